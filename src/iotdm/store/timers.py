"""Durable timers: due items live in the database so a restart or a second node never loses one."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from iotdm.store.schema import timers


async def arm(conn: AsyncConnection, kind: str, key: str, due_at: int) -> None:
    await disarm(conn, kind, key)
    await conn.execute(timers.insert().values(kind=kind, key=key, due_at=due_at))


async def disarm(conn: AsyncConnection, kind: str, key: str) -> None:
    await conn.execute(timers.delete().where(timers.c.kind == kind, timers.c.key == key))


async def due(conn: AsyncConnection, now: int, limit: int = 100) -> Sequence[sa.RowMapping]:
    result = await conn.execute(
        timers.select()
        .where(timers.c.due_at <= now)
        .order_by(timers.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return result.mappings().all()


async def next_due_at(conn: AsyncConnection) -> int | None:
    result = await conn.execute(sa.select(sa.func.min(timers.c.due_at)))
    value = result.scalar()
    return int(value) if value is not None else None
