"""Writing device reports in batches: history rows, the latest data per service, outbox events.

The hot path of device ingest. Rows arrive as tuples with their JSON already serialised and go to the driver's
``executemany`` as they are: SQLAlchemy's per-row parameter processing cost more than SQLite's own insert
(measured: a third of the writer's time). The statements name the schema's tables and columns, so a renamed
column fails here loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import data_history, device_services, outbox

_LATEST = device_services.select().where(device_services.c.device_id.in_(sa.bindparam("device_ids", expanding=True)))

# (device_id, gateway_id, app_id, service_id, data JSON, timestamp)
HISTORY_COLUMNS = ("device_id", "gateway_id", "app_id", "service_id", "data", "timestamp")
# (device_id, service_id, service_type, data JSON, event_time)
SERVICE_COLUMNS = ("device_id", "service_id", "service_type", "data", "event_time")
# (app_id, notify_type, device_id, payload JSON, created_at)
EVENT_COLUMNS = ("app_id", "notify_type", "device_id", "payload", "created_at")


def latest(conn: sa.Connection, device_ids: Sequence[str]) -> dict[tuple[str, str], sa.RowMapping]:
    """(deviceId, serviceId) -> the service's row, for the devices of a batch."""
    rows = conn.execute(_LATEST, {"device_ids": list(device_ids)}).mappings()
    return {(row["device_id"], row["service_id"]): row for row in rows}


def write(
    conn: sa.Connection,
    history: list[tuple[Any, ...]],
    inserted: list[tuple[Any, ...]],
    updated: list[tuple[Any, ...]],
    events: list[tuple[Any, ...]],
) -> None:
    """One batch: ``inserted``/``updated`` are device_services rows (new / already there)."""
    marks = _placeholders(conn.dialect.paramstyle)
    if history:
        conn.exec_driver_sql(_insert(data_history, HISTORY_COLUMNS, marks), history)
    if inserted:
        conn.exec_driver_sql(_insert(device_services, SERVICE_COLUMNS, marks), inserted)
    if updated:
        sets = ", ".join(f"{column} = {mark}" for column, mark in zip(SERVICE_COLUMNS[2:], marks, strict=False))
        device, service = marks[3], marks[4]
        conn.exec_driver_sql(
            f"UPDATE {device_services.name} SET {sets} WHERE device_id = {device} AND service_id = {service}",
            [(*row[2:], row[0], row[1]) for row in updated],  # the key columns last, as in the statement
        )
    if events:
        conn.exec_driver_sql(_insert(outbox, EVENT_COLUMNS, marks), events)


def _insert(table: sa.Table, columns: tuple[str, ...], marks: list[str]) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks[: len(columns)])})"


def _placeholders(paramstyle: str) -> list[str]:
    if paramstyle == "qmark":
        return ["?"] * 8
    if paramstyle == "numeric_dollar":
        return [f"${n}" for n in range(1, 9)]
    raise NotImplementedError(f"paramstyle {paramstyle}")
