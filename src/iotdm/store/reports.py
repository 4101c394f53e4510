"""Writing device reports in batches: history rows, the latest data per service, outbox events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import data_history, device_services, outbox

_LATEST = device_services.select().where(device_services.c.device_id.in_(sa.bindparam("device_ids", expanding=True)))


def latest(conn: sa.Connection, device_ids: Sequence[str]) -> dict[tuple[str, str], sa.RowMapping]:
    """(deviceId, serviceId) -> the service's row, for the devices of a batch."""
    rows = conn.execute(_LATEST, {"device_ids": list(device_ids)}).mappings()
    return {(row["device_id"], row["service_id"]): row for row in rows}


def write(
    conn: sa.Connection,
    history: list[dict[str, Any]],
    inserted: list[dict[str, Any]],
    updated: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> None:
    """One batch: ``inserted``/``updated`` are device_services rows (new / already there), executemany each."""
    if history:
        conn.execute(data_history.insert(), history)
    if inserted:
        conn.execute(device_services.insert(), inserted)
    if updated:
        conn.execute(
            device_services.update()
            .where(
                device_services.c.device_id == sa.bindparam("b_device_id"),
                device_services.c.service_id == sa.bindparam("b_service_id"),
            )
            .values(
                data=sa.bindparam("data"),
                event_time=sa.bindparam("event_time"),
                service_type=sa.bindparam("service_type"),
            ),
            updated,
        )
    if events:
        conn.execute(outbox.insert(), events)
