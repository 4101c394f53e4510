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
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa

from iotdm.domain import notifications
from iotdm.domain.notify_types import NotifyType
from iotdm.domain.reports import ServiceData
from iotdm.domain.times import format_time
from iotdm.services.batching import next_batch
from iotdm.services.clock import now_ms, to_datetime
from iotdm.services.device_port import DeviceSession
from iotdm.store import reports
from iotdm.store import subscriptions as subscription_store
from iotdm.store.engine import Database

log = logging.getLogger(__name__)

# requestIds of deviceDatasChanged: unique per node start and cheap (uuid4 per report showed in profiles).
_REQUEST_PREFIX = f"{uuid.uuid4().hex[:12]}-"
_request_numbers = itertools.count(1)
_DATA_CHANGED = NotifyType.DEVICE_DATA_CHANGED.value
_DATAS_CHANGED = NotifyType.DEVICE_DATAS_CHANGED.value


@dataclass(slots=True)
class _Pending:
    device: DeviceSession
    reports: list[list[ServiceData]]  # each report's services
    received_at: int
    done: asyncio.Future[None]


class ReportWriter:
    def __init__(self, db: Database, max_batch: int = 2000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()

    def submit(self, device: DeviceSession, reports: list[list[ServiceData]]) -> asyncio.Future[None]:
        """Queue a device's reports (those one read brought); the future completes when they are committed (or
        fails with their batch)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(device, reports, now_ms(), done))
        return done

    async def run(self) -> None:
        while True:
            batch = await next_batch(self._queue, self._max_batch)
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
    # Two events per report would double what a batch writes; only those someone subscribed to are (read in the
    # batch's transaction, so a subscription committed before it is never missed).
    rows = _BatchRows(
        latest=reports.latest(conn, list({p.device.device_id for p in batch})),
        listened=subscription_store.listened_to(conn, list({p.device.app_id for p in batch})),
    )
    for pending in batch:
        for services in pending.reports:
            rows.add(pending.device, services, pending.received_at)
    reports.write(
        conn,
        rows.history,
        [row.as_tuple(key) for key, row in rows.fresh.items()],
        [row.as_tuple(key) for key, row in rows.changed.items()],
        rows.events,
    )


@dataclass
class _BatchRows:
    """What a batch of reports writes: history rows, the services' latest data, the events listened to."""

    latest: dict[tuple[str, str], sa.RowMapping]
    listened: set[tuple[str, str]]
    history: list[tuple[Any, ...]] = field(default_factory=list)
    fresh: dict[tuple[str, str], _Latest] = field(default_factory=dict)  # service rows first seen in this batch
    changed: dict[tuple[str, str], _Latest] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, device: DeviceSession, services: list[ServiceData], received_at: int) -> None:
        pushed = []
        for service in services:
            at = received_at if service.event_time is None else service.event_time
            self.history.append(
                (device.device_id, device.gateway_id, device.app_id, service.service_id, _dumps(service.data), at)
            )
            # Without a product model the service's type is not known; its id stands in (docs/decisions.md).
            service_type = device.service_types.get(service.service_id, service.service_id)
            self._merge_latest((device.device_id, service.service_id), service_type, service.data, at)
            pushed.append(notifications.service_data(service.service_id, service_type, service.data, _time(at)))
        if (device.app_id, _DATA_CHANGED) in self.listened:
            for item in pushed:
                payload = notifications.device_data_changed(device.device_id, device.gateway_id, item)
                self.events.append(_event(device, payload, received_at))
        if (device.app_id, _DATAS_CHANGED) in self.listened:
            request_id = f"{_REQUEST_PREFIX}{next(_request_numbers):x}"
            payload = notifications.device_datas_changed(request_id, device.device_id, device.gateway_id, pushed)
            self.events.append(_event(device, payload, received_at))

    def _merge_latest(self, key: tuple[str, str], service_type: str, data: dict[str, Any], at: int) -> None:
        """The service's latest properties: a report updates the properties it carries and keeps the others."""
        row = self.fresh.get(key) or self.changed.get(key)
        if row is None:
            stored = self.latest.get(key)
            if stored is None:
                row = self.fresh[key] = _Latest(service_type, {}, None)
            else:
                row = self.changed[key] = _Latest(service_type, dict(stored["data"] or {}), stored["event_time"])
        row.service_type = service_type
        row.data = {**row.data, **data}
        row.event_time = at if row.event_time is None else max(row.event_time, at)


@dataclass(slots=True)
class _Latest:
    """A service's latest properties as this batch leaves them."""

    service_type: str
    data: dict[str, Any]
    event_time: int | None

    def as_tuple(self, key: tuple[str, str]) -> tuple[Any, ...]:
        return (*key, self.service_type, _dumps(self.data), self.event_time)  # reports.SERVICE_COLUMNS


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
