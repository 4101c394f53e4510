"""The transactional outbox: events written in the same transaction as the change they report."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import outbox

_APPEND = outbox.insert()


def append(conn: sa.Connection, app_id: str, payload: dict[str, Any], now: int) -> None:
    row = {
        "app_id": app_id,
        "notify_type": payload["notifyType"],
        "device_id": payload.get("deviceId"),
        "payload": payload,
        "created_at": now,
    }
    conn.execute(_APPEND, row)
