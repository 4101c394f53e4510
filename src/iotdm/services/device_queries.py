"""Reading devices (§1.5.1, §1.5.2) and their shadow (§1.4.9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from iotdm.domain.devices import device_view, shadow_view
from iotdm.domain.errors import E, PlatformError
from iotdm.store import devices as device_store
from iotdm.store.devices import DeviceFilter
from iotdm.store.engine import Database


@dataclass(frozen=True)
class Page:
    total: int
    devices: list[dict[str, Any]]


class DeviceQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def one(self, app_id: str, device_id: str, *, with_imsi: bool) -> dict[str, Any]:
        def read(conn: sa.Connection) -> dict[str, Any]:
            row = device_store.get(conn, app_id, device_id)
            if row is None:
                raise PlatformError(E.DEVICE_NOT_FOUND)
            return device_view(row, device_store.services_of(conn, [device_id])[device_id], with_imsi=with_imsi)

        return await self._db.read(read)

    async def page(self, f: DeviceFilter, page_no: int, page_size: int, *, with_imsi: bool) -> Page:
        def read(conn: sa.Connection) -> Page:
            total = device_store.count(conn, f)
            offset = page_no * page_size
            # A page past the end is empty; its offset may not even fit the database's integers.
            rows = device_store.page(conn, f, offset, page_size) if offset < total else []
            services = device_store.services_of(conn, [row["device_id"] for row in rows])
            return Page(total, [device_view(row, services[row["device_id"]], with_imsi=with_imsi) for row in rows])

        return await self._db.read(read)

    async def shadow(self, app_id: str, device_id: str) -> dict[str, Any]:
        def read(conn: sa.Connection) -> dict[str, Any]:
            row = device_store.get(conn, app_id, device_id)
            if row is None:
                # §1.4.9 has no 100403 row; its table answers an unknown device with 100418.
                raise PlatformError(E.DEVICE_DATA_NOT_FOUND)
            return shadow_view(row, device_store.services_of(conn, [device_id])[device_id])

        return await self._db.read(read)
