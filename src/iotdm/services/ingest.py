"""The batch writer: many device reports per transaction, each acknowledged only after its commit.

Reports queue up while a batch commits; the next batch takes everything queued (up to ``max_batch``), so the
commit cost is shared by all of them and the batch grows with the load.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa

from iotdm.domain import notifications
from iotdm.domain.reports import ServiceData
from iotdm.domain.times import format_time
from iotdm.services.clock import now_ms, to_datetime
from iotdm.services.device_port import DeviceSession
from iotdm.store import reports
from iotdm.store.engine import Database

log = logging.getLogger(__name__)

# requestIds of deviceDatasChanged: unique per node start and cheap (uuid4 per report showed in profiles).
_REQUEST_PREFIX = f"{uuid.uuid4().hex[:12]}-"
_request_numbers = itertools.count(1)


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
    history: list[dict[str, Any]] = []
    fresh: dict[tuple[str, str], dict[str, Any]] = {}  # service rows first seen in this batch
    changed: dict[tuple[str, str], dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for pending in batch:
        device = pending.device
        pushed = []
        for service in pending.services:
            at = pending.received_at if service.event_time is None else service.event_time
            history.append(
                {
                    "device_id": device.device_id,
                    "gateway_id": device.gateway_id,
                    "app_id": device.app_id,
                    "service_id": service.service_id,
                    "data": service.data,
                    "timestamp": at,
                }
            )
            key = (device.device_id, service.service_id)
            # Without a product model the service's type is not known; its id stands in (docs/decisions.md).
            service_type = device.service_types.get(service.service_id, service.service_id)
            _merge_latest(key, service_type, service.data, at, latest, fresh, changed)
            pushed.append(
                notifications.service_data(service.service_id, service_type, service.data, format_time(to_datetime(at)))
            )
        for item in pushed:
            payload = notifications.device_data_changed(device.device_id, device.gateway_id, item)
            events.append(_event(device, payload, pending.received_at))
        request_id = f"{_REQUEST_PREFIX}{next(_request_numbers):x}"
        payload = notifications.device_datas_changed(request_id, device.device_id, device.gateway_id, pushed)
        events.append(_event(device, payload, pending.received_at))
    updated = [
        {
            "b_device_id": k[0],
            "b_service_id": k[1],
            "data": v["data"],
            "event_time": v["event_time"],
            "service_type": v["service_type"],
        }
        for k, v in changed.items()
    ]
    reports.write(conn, history, list(fresh.values()), updated, events)


def _merge_latest(
    key: tuple[str, str],
    service_type: str,
    data: dict[str, Any],
    at: int,
    latest: dict[tuple[str, str], Any],
    fresh: dict[tuple[str, str], dict[str, Any]],
    changed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """The service's latest properties: a report updates the properties it carries and keeps the others."""
    if key in fresh:
        row = fresh[key]
    elif key in changed:
        row = changed[key]
    elif key in latest:
        stored = latest[key]
        row = changed[key] = {"data": dict(stored["data"] or {}), "event_time": stored["event_time"]}
    else:
        row = fresh[key] = {"device_id": key[0], "service_id": key[1], "data": {}, "event_time": None}
    row["service_type"] = service_type
    row["data"] = {**row["data"], **data}
    row["event_time"] = at if row["event_time"] is None else max(row["event_time"], at)


def _event(device: DeviceSession, payload: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "app_id": device.app_id,
        "notify_type": payload["notifyType"],
        "device_id": device.device_id,
        "payload": payload,
        "created_at": now,
    }
