"""Reading device data history (§1.5.3) and shadow desired history (§1.5.4), DECISIONS D5 and G7."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from iotdm.domain.errors import E, PlatformError
from iotdm.domain.times import format_time
from iotdm.store import devices as device_store
from iotdm.store import history as history_store
from iotdm.store.engine import Database
from iotdm.store.history import HistoryFilter

Count = Callable[[sa.Connection, HistoryFilter], int]
Fetch = Callable[[sa.Connection, HistoryFilter, int, int], Sequence[sa.RowMapping]]


@dataclass(frozen=True)
class HistoryPage:
    total: int
    records: list[dict[str, Any]]


def _record(row: sa.RowMapping, json_key: str) -> dict[str, Any]:
    """DeviceDataHistoryDTO (§1.5.3 L1973) / DeviceDesiredHistoryDTO (§1.5.4 L2085)."""
    return {
        "serviceId": row["service_id"],
        "deviceId": row["device_id"],
        "gatewayId": row["gateway_id"],
        "appId": row["app_id"],
        json_key: row[json_key],
        "timestamp": format_time(datetime.fromtimestamp(row["timestamp"] / 1000, UTC)),
    }


class History:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def data(self, f: HistoryFilter, page_no: int, page_size: int) -> HistoryPage:
        """Reported data, newest first (§1.5.3)."""
        return await self._page(f, page_no, page_size, history_store.count_data, history_store.page_data, "data")

    async def desired(self, f: HistoryFilter, page_no: int, page_size: int) -> HistoryPage:
        """Shadow changes, newest first (§1.5.4)."""
        return await self._page(
            f, page_no, page_size, history_store.count_desired, history_store.page_desired, "desired"
        )

    async def _page(
        self, f: HistoryFilter, page_no: int, page_size: int, count: Count, fetch: Fetch, json_key: str
    ) -> HistoryPage:
        if f.device_id is None and f.gateway_id is None:
            raise PlatformError(E.DEVICE_AND_GATEWAY_NULL)

        def read(conn: sa.Connection) -> HistoryPage:
            # A device (or gateway) the app does not have: §1.5.3's 100418 row (G1: 404), not an empty page, so
            # a mistyped id is told apart from a quiet device. Another app's device looks the same (D7).
            for device_id in (f.device_id, f.gateway_id):
                if device_id is not None and device_store.get(conn, f.app_id, device_id) is None:
                    raise PlatformError(E.DEVICE_DATA_NOT_FOUND)
            total = count(conn, f)
            offset = page_no * page_size
            # A page past the end is empty; its offset may not even fit the database's integers.
            rows = fetch(conn, f, offset, page_size) if offset < total else []
            return HistoryPage(total, [_record(row, json_key) for row in rows])

        return await self._db.read(read)
