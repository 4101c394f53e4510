"""The batch writer: many device reports per transaction, each acknowledged only after its commit.

Reports queue up while a batch commits; the next batch takes everything queued (up to ``max_batch``), so the
commit cost is shared by all of them and the batch grows with the load.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa

from iotdm.domain import notifications
from iotdm.domain.reports import ServiceData
from iotdm.domain.times import format_time
from iotdm.services.clock import now_ms, to_datetime
from iotdm.services.device_port import DeviceSession
from iotdm.store import reports
from iotdm.store import subscriptions as subscription_store
from iotdm.store.engine import Database

log = logging.getLogger(__name__)

# requestIds of deviceDatasChanged: unique per node start and cheap (uuid4 per report showed in profiles).
_REQUEST_PREFIX = f"{uuid.uuid4().hex[:12]}-"
_request_numbers = itertools.count(1)
_DATA_CHANGED = notifications.NotifyType.DEVICE_DATA_CHANGED.value
_DATAS_CHANGED = notifications.NotifyType.DEVICE_DATAS_CHANGED.value


@dataclass(slots=True)
class _Pending:
    device: DeviceSession
    services: list[ServiceData]
    received_at: int
    done: asyncio.Future[None]


class ReportWriter:
    def __init__(self, db: Database, max_batch: int = 2000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()

    def submit(self, device: DeviceSession, services: list[ServiceData]) -> asyncio.Future[None]:
        """Queue a report; the future completes when it is committed (or fails with its batch)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(device, services, now_ms(), done))
        return done

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._db.write(partial(_write, batch=batch))
            except Exception as exc:
                log.exception("a batch of %d reports failed; none is acknowledged", len(batch))
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(exc)
            else:
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_result(None)


def _write(conn: sa.Connection, batch: list[_Pending]) -> None:
    latest = reports.latest(conn, list({p.device.device_id for p in batch}))
    # Two events per report would double what a batch writes; only those someone subscribed to are (read in the
    # batch's transaction, so a subscription committed before it is never missed).
    listened = subscription_store.listened_to(conn, list({p.device.app_id for p in batch}))
    history: list[tuple[Any, ...]] = []
    fresh: dict[tuple[str, str], _Latest] = {}  # service rows first seen in this batch
    changed: dict[tuple[str, str], _Latest] = {}
    events: list[tuple[Any, ...]] = []
    for pending in batch:
        device = pending.device
        pushed = []
        for service in pending.services:
            at = pending.received_at if service.event_time is None else service.event_time
            history.append(
                (device.device_id, device.gateway_id, device.app_id, service.service_id, _dumps(service.data), at)
            )
            key = (device.device_id, service.service_id)
            # Without a product model the service's type is not known; its id stands in (docs/decisions.md).
            service_type = device.service_types.get(service.service_id, service.service_id)
            _merge_latest(key, service_type, service.data, at, latest, fresh, changed)
            pushed.append(notifications.service_data(service.service_id, service_type, service.data, _time(at)))
        if (device.app_id, _DATA_CHANGED) in listened:
            for item in pushed:
                payload = notifications.device_data_changed(device.device_id, device.gateway_id, item)
                events.append(_event(device, payload, pending.received_at))
        if (device.app_id, _DATAS_CHANGED) in listened:
            request_id = f"{_REQUEST_PREFIX}{next(_request_numbers):x}"
            payload = notifications.device_datas_changed(request_id, device.device_id, device.gateway_id, pushed)
            events.append(_event(device, payload, pending.received_at))
    reports.write(
        conn,
        history,
        [row.as_tuple(key) for key, row in fresh.items()],
        [row.as_tuple(key) for key, row in changed.items()],
        events,
    )


@dataclass(slots=True)
class _Latest:
    """A service's latest properties as this batch leaves them."""

    service_type: str
    data: dict[str, Any]
    event_time: int | None

    def as_tuple(self, key: tuple[str, str]) -> tuple[Any, ...]:
        return (*key, self.service_type, _dumps(self.data), self.event_time)  # reports.SERVICE_COLUMNS


def _merge_latest(
    key: tuple[str, str],
    service_type: str,
    data: dict[str, Any],
    at: int,
    latest: dict[tuple[str, str], Any],
    fresh: dict[tuple[str, str], _Latest],
    changed: dict[tuple[str, str], _Latest],
) -> None:
    """The service's latest properties: a report updates the properties it carries and keeps the others."""
    row = fresh.get(key) or changed.get(key)
    if row is None:
        stored = latest.get(key)
        if stored is None:
            row = fresh[key] = _Latest(service_type, {}, None)
        else:
            row = changed[key] = _Latest(service_type, dict(stored["data"] or {}), stored["event_time"])
    row.service_type = service_type
    row.data = {**row.data, **data}
    row.event_time = at if row.event_time is None else max(row.event_time, at)


def _event(device: DeviceSession, payload: dict[str, Any], now: int) -> tuple[Any, ...]:
    return (device.app_id, payload["notifyType"], device.device_id, _dumps(payload), now)  # reports.EVENT_COLUMNS


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    return format_time(to_datetime(seconds * 1000))


def _time(ms: int) -> str:
    """The reference's time of ``ms``; reports of one batch mostly share their second, so it is formatted once."""
    return _second(ms // 1000)
