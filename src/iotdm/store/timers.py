"""Durable timers: due items live in the database so a restart or a second node never loses one."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from iotdm.store.schema import timers


def arm(conn: sa.Connection, kind: str, key: str, due_at: int) -> None:
    disarm(conn, kind, key)
    conn.execute(timers.insert().values(kind=kind, key=key, due_at=due_at))


_DISARM = timers.delete().where(timers.c.kind == sa.bindparam("b_kind"), timers.c.key == sa.bindparam("b_key"))


def disarm(conn: sa.Connection, kind: str, key: str) -> None:
    conn.execute(_DISARM, {"b_kind": kind, "b_key": key})


def due(conn: sa.Connection, now: int, limit: int = 100) -> Sequence[sa.RowMapping]:
    result = conn.execute(
        timers.select()
        .where(timers.c.due_at <= now)
        .order_by(timers.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return result.mappings().all()
