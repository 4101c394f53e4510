"""The platform's nodes: who is running, and the messages they send each other.

Messages travel by PostgreSQL ``NOTIFY`` on one channel per node (ARCHITECTURE "Scaling out"): sent inside the
sender's transaction, so a message about a change goes out only once the change is committed. SQLite serves
one node, which never has anybody to tell: there ``notify`` does nothing and ``listen`` returns at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa

from iotdm.store.engine import Database
from iotdm.store.schema import nodes

log = logging.getLogger(__name__)

_RECONNECT_AFTER = 1.0  # seconds between attempts to get the listening connection back


def register(conn: sa.Connection, node_id: str, now: int) -> None:
    conn.execute(nodes.insert().values(node_id=node_id, started_at=now, seen_at=now))


def seen(conn: sa.Connection, node_id: str, now: int) -> bool:
    """Record that the node is alive; False when others already took it for gone (its row was removed)."""
    result = conn.execute(nodes.update().where(nodes.c.node_id == node_id).values(seen_at=now))
    return result.rowcount == 1


def gone(conn: sa.Connection, unseen_since: int) -> Sequence[str]:
    """Nodes not seen since ``unseen_since``; locked (skipping those another node is handling) on PostgreSQL."""
    query = sa.select(nodes.c.node_id).where(nodes.c.seen_at < unseen_since).with_for_update(skip_locked=True)
    return conn.execute(query).scalars().all()


def remove(conn: sa.Connection, node_id: str) -> None:
    conn.execute(nodes.delete().where(nodes.c.node_id == node_id))


def _channel(node_id: str) -> str:
    return f"iotdm_{node_id}"


def notify(conn: sa.Connection, node_id: str, message: dict[str, Any]) -> None:
    """Send ``message`` to ``node_id`` once the transaction commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(_channel(node_id), orjson.dumps(message).decode())))


async def listen(db: Database, node_id: str, receive: Callable[[dict[str, Any]], None]) -> None:
    """Hand each message sent to ``node_id`` to ``receive``, until cancelled; reconnects when the connection drops
    (messages sent meanwhile are lost: every one of them has a slower way round, see their senders)."""
    if not db.url.startswith("postgresql"):
        return
    dsn = sa.make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def on_notification(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        receive(orjson.loads(str(payload)))

    while True:
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot listen for other nodes' messages (%s); retrying", exc)
            await asyncio.sleep(_RECONNECT_AFTER)
            continue
        try:
            await _listen_until_lost(connection, _channel(node_id), on_notification)
            log.warning("lost the connection that hears other nodes' messages; reconnecting")
        finally:
            await connection.close()


async def _listen_until_lost(connection: asyncpg.Connection, channel: str, on_notification: Any) -> None:
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _conn: lost.set())
    await connection.add_listener(channel, on_notification)
    await lost.wait()
