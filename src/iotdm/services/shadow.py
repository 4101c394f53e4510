"""Modifying a device shadow's desired properties (§1.4.8, DECISIONS D4).

Each accepted change merges into the shadow and is recorded in desired history as PENDING; delivery to the
device (and the DELIVERED/FAILED outcome) comes with device access.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from iotdm.domain.errors import E, PlatformError
from iotdm.services.clock import now_ms
from iotdm.store import devices as device_store

PENDING = "PENDING"


class Shadow:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def modify(self, app_id: str, device_id: str, desireds: list[tuple[str, dict[str, Any]]]) -> None:
        now = now_ms()
        async with self._engine.begin() as conn:
            # Locked, so a concurrent deletion either waits for this change or is seen here (device unknown).
            row = await device_store.get(conn, app_id, device_id, lock=True)
            if row is None:
                raise PlatformError(E.DEVICE_NOT_FOUND)
            for service_id, desired in desireds:
                await device_store.set_desired(conn, device_id, service_id, desired)
                await device_store.add_desired_history(
                    conn,
                    {
                        "device_id": device_id,
                        "gateway_id": row["gateway_id"],
                        "app_id": row["app_id"],
                        "service_id": service_id,
                        "desired": desired,
                        "timestamp": now,
                        "status": PENDING,
                    },
                )
            await device_store.update(conn, device_id, {"modified_at": now})
