"""Applications' clients connected to the nodes' MQTT listeners (DECISIONS S5), one row per (app, clientId)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from iotdm.store import conflicts
from iotdm.store.schema import app_clients


def _key(app_id: str, client_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(app_clients.c.app_id == app_id, app_clients.c.client_id == client_id)


def claim(conn: sa.Connection, app_id: str, client_id: str, node_id: str, session_id: str) -> sa.RowMapping | None:
    """The client's session is now ``session_id`` on ``node_id``; answer the one it replaces, if any."""
    values = {"app_id": app_id, "client_id": client_id, "node_id": node_id, "session_id": session_id}
    key = _key(app_id, client_id)
    while True:
        # A session started at the same moment on another node inserts first or waits for this one to commit:
        # either way one of the two finds the other's row and replaces it.
        inserted = conn.execute(conflicts.insert(conn, app_clients).values(**values).on_conflict_do_nothing())
        if inserted.rowcount == 1:
            return None
        previous = conn.execute(app_clients.select().where(key).with_for_update()).mappings().first()
        if previous is not None:  # else it was released meanwhile: insert again
            conn.execute(app_clients.update().where(key).values(node_id=node_id, session_id=session_id))
            return previous


def release(conn: sa.Connection, app_id: str, client_id: str, session_id: str) -> None:
    """The session ended; a newer one of the same client (on any node) keeps its row."""
    conn.execute(app_clients.delete().where(_key(app_id, client_id), app_clients.c.session_id == session_id))


def client_ids(conn: sa.Connection, app_id: str) -> Sequence[str]:
    query = sa.select(app_clients.c.client_id).where(app_clients.c.app_id == app_id).order_by(app_clients.c.client_id)
    return conn.execute(query).scalars().all()


def forget_node(conn: sa.Connection, node_id: str) -> None:
    conn.execute(app_clients.delete().where(app_clients.c.node_id == node_id))
