"""Where applications' MQTT clients are connected (``store.app_clients``): one row per (app, clientId), whatever
the order in which nodes record their sessions."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from iotdm.store import app_clients
from iotdm.store.engine import Database
from iotdm.store.schema import app_clients as app_clients_table
from iotdm.store.schema import apps


async def test_a_newer_session_replaces_the_older_and_an_older_end_keeps_the_newer(database: Database) -> None:
    def scenario(conn: sa.Connection) -> list[str]:
        _app(conn)
        assert app_clients.claim(conn, "A", "na", "node-1", "s1") is None
        previous = app_clients.claim(conn, "A", "na", "node-2", "s2")
        assert previous is not None and (previous["node_id"], previous["session_id"]) == ("node-1", "s1")
        app_clients.release(conn, "A", "na", "s1")  # the older session's end, recorded late
        return list(app_clients.client_ids(conn, "A"))

    assert await database.write(scenario) == ["na"]
    await database.write(lambda conn: app_clients.release(conn, "A", "na", "s2"))
    assert await database.read(lambda conn: list(app_clients.client_ids(conn, "A"))) == []


async def test_two_first_sessions_at_once_end_with_one_replacing_the_other(database: Database) -> None:
    """On PostgreSQL the two transactions overlap: the second insert waits for the first to commit, then takes
    its row over instead of failing on the key."""
    await database.write(
        lambda conn: conn.execute(apps.insert().values(app_id="A", name="A", secret_hash="-", created_at=0))
    )

    first, second = await asyncio.gather(
        database.write(lambda conn: app_clients.claim(conn, "A", "na", "node-1", "s1")),
        database.write(lambda conn: app_clients.claim(conn, "A", "na", "node-2", "s2")),
    )
    outcomes = {"s1": first, "s2": second}
    [(newer, older)] = [(session, previous) for session, previous in outcomes.items() if previous is not None]
    assert older["session_id"] == ({"s1", "s2"} - {newer}).pop()
    held = await database.read(lambda conn: conn.execute(sa.select(app_clients_table.c.session_id)).scalars().all())
    assert held == [newer]


def _app(conn: sa.Connection) -> None:
    conn.execute(apps.insert().values(app_id="A", name="A", secret_hash="-", created_at=0))
