"""Modifying a device shadow's desired properties (§1.4.8, DECISIONS D4).

Each accepted change merges into the shadow and is recorded in desired history as PENDING; device access then
delivers it at once if the device is connected, or when it next connects, and its answer settles the change
as DELIVERED or FAILED.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from iotdm.domain.errors import E, PlatformError
from iotdm.domain.profiles import check_desired
from iotdm.services.clock import now_ms
from iotdm.services.device_access import DeviceAccess
from iotdm.services.profiles import profile_of
from iotdm.store import devices as device_store
from iotdm.store.engine import Database

PENDING = "PENDING"


class Shadow:
    def __init__(self, db: Database, devices: DeviceAccess) -> None:
        self._db = db
        self._devices = devices

    async def modify(self, app_id: str, device_id: str, desireds: list[tuple[str, dict[str, Any]]]) -> None:
        now = now_ms()

        def modify(conn: sa.Connection) -> None:
            # Locked, so a concurrent deletion either waits for this change or is seen here (device unknown).
            row = device_store.get(conn, app_id, device_id, lock=True)
            if row is None:
                raise PlatformError(E.DEVICE_NOT_FOUND)
            profile = profile_of(conn, row)
            for service_id, desired in desireds:
                if profile is not None:  # without a profile the change is taken as it is (D6)
                    check_desired(profile, service_id, desired)
                device_store.set_desired(conn, device_id, service_id, desired)
                history = {
                    "device_id": device_id,
                    "gateway_id": row["gateway_id"],
                    "app_id": row["app_id"],
                    "service_id": service_id,
                    "desired": desired,
                    "timestamp": now,
                    "status": PENDING,
                }
                device_store.add_desired_history(conn, history)
            device_store.update(conn, device_id, {"modified_at": now})
            self._devices.shadow_changed(conn, row)

        await self._db.write(modify)
        await self._devices.deliver_shadow(device_id)
