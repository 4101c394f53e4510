"""The transactional outbox: events written in the same transaction as the change they report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from iotdm.store.schema import outbox


async def append(conn: AsyncConnection, app_id: str, payload: dict[str, Any], now: int) -> None:
    await conn.execute(
        outbox.insert().values(
            app_id=app_id,
            notify_type=payload["notifyType"],
            device_id=payload.get("deviceId"),
            payload=payload,
            created_at=now,
        )
    )


async def read_after(conn: AsyncConnection, after_id: int, limit: int = 1000) -> Sequence[sa.RowMapping]:
    result = await conn.execute(outbox.select().where(outbox.c.id > after_id).order_by(outbox.c.id).limit(limit))
    return result.mappings().all()
