"""Queries on devices and their services (latest data and shadow)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import data_history, desired_history, device_services, devices


@dataclass(frozen=True)
class DeviceFilter:
    """The filters of §1.5.2; None means "not filtered"."""

    app_id: str
    gateway_id: str | None = None
    node_type: str | None = None
    device_type: str | None = None
    location: str | None = None
    name: str | None = None
    status: str | None = None
    created_from: int | None = None  # inclusive
    created_before: int | None = None  # exclusive
    ascending: bool = False


def insert(conn: sa.Connection, values: dict[str, Any]) -> None:
    conn.execute(devices.insert().values(**values))


# The hot reads are built once: building a statement per call costs more than SQLite takes to run it.
_BY_ID = devices.select().where(devices.c.device_id == sa.bindparam("device_id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()
_OF_APP = _BY_ID.where(devices.c.app_id == sa.bindparam("app_id"))
_OF_APP_LOCKED = _OF_APP.with_for_update()
# The SET clause comes from the parameters' keys at execution: one statement for every set of columns.
_UPDATE = devices.update().where(devices.c.device_id == sa.bindparam("b_device_id"))
_SERVICES_OF = (
    device_services.select()
    .where(device_services.c.device_id.in_(sa.bindparam("device_ids", expanding=True)))
    .order_by(device_services.c.device_id, device_services.c.service_id)
)
# One device is the common case; an expanding IN is rendered anew on every execution.
_SERVICES_OF_ONE = (
    device_services.select()
    .where(device_services.c.device_id == sa.bindparam("device_id"))
    .order_by(device_services.c.service_id)
)


def get(conn: sa.Connection, app_id: str, device_id: str, *, lock: bool = False) -> sa.RowMapping | None:
    """The app's device; ``lock`` holds its row until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite
    has one writer at a time anyway)."""
    query = _OF_APP_LOCKED if lock else _OF_APP
    return conn.execute(query, {"device_id": device_id, "app_id": app_id}).mappings().first()


def get_any(conn: sa.Connection, device_id: str, *, lock: bool = False) -> sa.RowMapping | None:
    """A device whatever its app: for the platform's own timers and device access."""
    query = _BY_ID_LOCKED if lock else _BY_ID
    return conn.execute(query, {"device_id": device_id}).mappings().first()


def with_session_on(conn: sa.Connection, node: str) -> Sequence[sa.RowMapping]:
    """The devices whose session is on platform node ``node``, locked."""
    query = devices.select().where(devices.c.session_node == node).with_for_update()
    return conn.execute(query).mappings().all()


def node_id_owner(conn: sa.Connection, node_id: str) -> str | None:
    result = conn.execute(sa.select(devices.c.device_id).where(devices.c.node_id == node_id))
    return result.scalar()


def update(conn: sa.Connection, device_id: str, values: dict[str, Any]) -> None:
    conn.execute(_UPDATE, {**values, "b_device_id": device_id})


def children(conn: sa.Connection, gateway_id: str) -> Sequence[sa.RowMapping]:
    result = conn.execute(devices.select().where(devices.c.gateway_id == gateway_id, devices.c.device_id != gateway_id))
    return result.mappings().all()


def delete(conn: sa.Connection, device_ids: Sequence[str]) -> None:
    conn.execute(device_services.delete().where(device_services.c.device_id.in_(device_ids)))
    conn.execute(desired_history.delete().where(desired_history.c.device_id.in_(device_ids)))
    conn.execute(data_history.delete().where(data_history.c.device_id.in_(device_ids)))
    conn.execute(devices.delete().where(devices.c.device_id.in_(device_ids)))


def _where(f: DeviceFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = [devices.c.app_id == f.app_id]
    exact = {
        devices.c.gateway_id: f.gateway_id,
        devices.c.node_type: f.node_type,
        devices.c.device_type: f.device_type,
        devices.c.location: f.location,
        devices.c.name: f.name,
        devices.c.status: f.status,
    }
    clauses.extend(column == value for column, value in exact.items() if value is not None)
    if f.created_from is not None:
        clauses.append(devices.c.created_at >= f.created_from)
    if f.created_before is not None:
        clauses.append(devices.c.created_at < f.created_before)
    return clauses


def count(conn: sa.Connection, f: DeviceFilter) -> int:
    result = conn.execute(sa.select(sa.func.count()).select_from(devices).where(*_where(f)))
    return int(result.scalar_one())


def page(conn: sa.Connection, f: DeviceFilter, offset: int, limit: int) -> Sequence[sa.RowMapping]:
    order = (
        (devices.c.created_at.asc(), devices.c.device_id.asc())
        if f.ascending
        else (devices.c.created_at.desc(), devices.c.device_id.desc())
    )
    result = conn.execute(devices.select().where(*_where(f)).order_by(*order).offset(offset).limit(limit))
    return result.mappings().all()


def services_of(conn: sa.Connection, device_ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    if not device_ids:
        return {}
    if len(device_ids) == 1:
        result = conn.execute(_SERVICES_OF_ONE, {"device_id": device_ids[0]})
    else:
        result = conn.execute(_SERVICES_OF, {"device_ids": list(device_ids)})
    grouped: dict[str, list[sa.RowMapping]] = {device_id: [] for device_id in device_ids}
    for row in result.mappings():
        grouped[row["device_id"]].append(row)
    return grouped


def set_desired(conn: sa.Connection, device_id: str, service_id: str, desired: dict[str, Any]) -> None:
    """Merge desired properties into the service's shadow, creating the service row when new."""
    result = conn.execute(
        sa.select(device_services.c.desired).where(
            device_services.c.device_id == device_id, device_services.c.service_id == service_id
        )
    )
    row = result.first()
    if row is None:
        conn.execute(device_services.insert().values(device_id=device_id, service_id=service_id, desired=desired))
        return
    merged = {**(row[0] or {}), **desired}
    conn.execute(
        device_services.update()
        .where(device_services.c.device_id == device_id, device_services.c.service_id == service_id)
        .values(desired=merged)
    )


def add_desired_history(conn: sa.Connection, values: dict[str, Any]) -> None:
    conn.execute(desired_history.insert().values(**values))


def pending_desired(conn: sa.Connection, device_id: str) -> Sequence[sa.RowMapping]:
    """Desired changes not yet delivered to the device, oldest first."""
    result = conn.execute(
        desired_history.select()
        .where(desired_history.c.device_id == device_id, desired_history.c.status == "PENDING")
        .order_by(desired_history.c.id)
    )
    return result.mappings().all()


def settle_desired(conn: sa.Connection, history_id: int, status: str) -> sa.RowMapping | None:
    """Mark a PENDING desired change DELIVERED or FAILED; None when it was already settled (or is gone)."""
    done = conn.execute(
        desired_history.update()
        .where(desired_history.c.id == history_id, desired_history.c.status == "PENDING")
        .values(status=status)
    )
    if done.rowcount != 1:
        return None
    return conn.execute(desired_history.select().where(desired_history.c.id == history_id)).mappings().first()
