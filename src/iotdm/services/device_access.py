"""The platform side of device access: the ``DeviceGateway`` the transports call (DECISIONS M1, D2)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa

from iotdm.domain import notifications
from iotdm.domain.device_auth import (
    CONNACK_BAD_CREDENTIALS,
    CONNACK_IDENTIFIER_REJECTED,
    CONNACK_NOT_AUTHORIZED,
    AuthType,
    parse_client_id,
    password_matches,
    timestamp_fresh,
)
from iotdm.domain.devices import Status, model_key
from iotdm.domain.notifications import BindResult
from iotdm.domain.profiles import Profile
from iotdm.domain.reports import ServiceData
from iotdm.services.clock import now_ms, to_datetime
from iotdm.services.cluster import Cluster
from iotdm.services.credentials import Keyring
from iotdm.services.device_port import ConnectRefused, ConnectRequest, DeviceLink, DeviceSession
from iotdm.services.ingest import ReportWriter
from iotdm.services.profiles import profile_of
from iotdm.services.registry import REGISTRATION_TIMER
from iotdm.store import devices as device_store
from iotdm.store import nodes, outbox, timers
from iotdm.store.engine import Database

log = logging.getLogger(__name__)


# The command a shadow change travels as (docs/device-protocol.md); the device answers with deviceRsp.
SET_DESIRED = "SET_DESIRED"
_MAX_MID = 65535

# Messages to the node holding a device's session.
_CLOSE = "close-device"  # a newer session of the device started elsewhere (DECISIONS M2)
_SHADOW = "deliver-shadow"  # the device has desired changes to send

_NO_SESSION = {"session_node": None, "session_id": None}


class DeviceAccess:
    def __init__(self, db: Database, keyring: Keyring, writer: ReportWriter, cluster: Cluster) -> None:
        self._db = db
        self._keyring = keyring
        self._writer = writer
        self._cluster = cluster
        self._link: DeviceLink | None = None
        cluster.handle(_CLOSE, self._close)
        cluster.handle(_SHADOW, self._deliver_forwarded)
        cluster.on_gone(_sessions_ended)
        # Per device listening on its command topic: mid of a message awaiting its deviceRsp -> the
        # desired_history row it carries.
        # Kept in memory only: an unanswered change stays PENDING in the database and is sent again on the next
        # connection.
        self._awaiting: dict[str, dict[int, int]] = {}
        self._last_mid: dict[str, int] = {}

    def attach(self, link: DeviceLink) -> None:
        """The transport that reaches devices connected to this node."""
        self._link = link

    async def authenticate(self, request: ConnectRequest) -> DeviceSession:
        client = parse_client_id(request.client_id)
        if client is None:
            raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, "malformed clientId")
        if client.auth_type is AuthType.ONE_MODEL_ONE_SECRET:
            raise ConnectRefused(CONNACK_NOT_AUTHORIZED, "one-model-one-secret is not enabled")
        if request.username != client.device_ref:
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "username is not the clientId's id")

        def load(conn: sa.Connection) -> tuple[sa.RowMapping | None, Profile | None]:
            """The device and its product model, in one read."""
            if client.auth_type is AuthType.NODE_ID:
                device_id = device_store.node_id_owner(conn, client.device_ref)
            else:
                device_id = client.device_ref
            row = None if device_id is None else device_store.get_any(conn, device_id)
            return row, None if row is None else profile_of(conn, row)

        row, profile = await self._db.read(load)
        if row is None or row["mute"] == "TRUE":
            raise ConnectRefused(CONNACK_NOT_AUTHORIZED, "unknown, deleted or frozen device")
        if row["secret_enc"] is None:
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "the device has no secret")
        if not timestamp_fresh(client, to_datetime(now_ms())):
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "stale timestamp")
        if not password_matches(request.password, self._keyring.decrypt(row["secret_enc"]), client.timestamp):
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "wrong password")
        service_types = {} if profile is None else {s.service_id: s.service_type for s in profile.services}
        return DeviceSession(
            row["device_id"], client.device_ref, row["app_id"], row["gateway_id"], model_key(row), service_types
        )

    async def connected(self, device: DeviceSession) -> None:
        """ONLINE; the first connection ever activates the device (bindDevice succeeded, D2). The session is now
        the device's one: a session on another node is told to end (DECISIONS M2)."""
        # A new session (perhaps replacing another): whatever the old one awaited is sent again once subscribed.
        self._awaiting.pop(device.device_id, None)
        here = self._cluster.node_id

        def online(conn: sa.Connection) -> None:
            now = now_ms()
            timers.disarm(conn, REGISTRATION_TIMER, device.device_id)
            row = device_store.get_any(conn, device.device_id, lock=True)
            if row is None:
                return
            if row["session_node"] not in (None, here):
                close = {"kind": _CLOSE, "device": device.device_id, "session": row["session_id"]}
                nodes.notify(conn, row["session_node"], close)
            first = not row["activated"]
            changes = {"status": Status.ONLINE.value, "status_detail": "NONE", "last_online_at": now}
            changes |= {"activated": True, "modified_at": now, "session_node": here, "session_id": device.session_id}
            device_store.update(conn, device.device_id, changes)
            written = {**row, **changes}  # the row as just written, without reading it back
            if first:
                outbox.append(conn, row["app_id"], notifications.bind_device(written, BindResult.SUCCEEDED), now)
            outbox.append(conn, row["app_id"], notifications.device_info_changed(written), now)

        await self._db.write(online)

    async def subscribed(self, device: DeviceSession) -> None:
        self._awaiting.setdefault(device.device_id, {})
        await self.deliver_shadow(device.device_id)

    async def disconnected(self, device: DeviceSession) -> None:
        self._awaiting.pop(device.device_id, None)
        self._last_mid.pop(device.device_id, None)

        def offline(conn: sa.Connection) -> None:
            row = device_store.get_any(conn, device.device_id, lock=True)
            # A newer session (here or on another node) keeps the device ONLINE.
            if row is not None and row["session_id"] == device.session_id:
                _go_offline(conn, row, now_ms())

        await self._db.write(offline)

    def report(self, device: DeviceSession, reports: list[list[ServiceData]]) -> asyncio.Future[None]:
        return self._writer.submit(device, reports)

    def shadow_changed(self, conn: sa.Connection, row: sa.RowMapping) -> None:
        """In the transaction of a change to the device's shadow: the node holding its session, if another one, is
        told to send it (once the change is committed)."""
        if row["session_node"] not in (None, self._cluster.node_id):
            nodes.notify(conn, row["session_node"], {"kind": _SHADOW, "device": row["device_id"]})

    async def _deliver_forwarded(self, message: dict[str, Any]) -> None:
        await self.deliver_shadow(message["device"])

    async def _close(self, message: dict[str, Any]) -> None:
        if self._link is not None:
            self._link.close(message["device"], message["session"])

    async def deliver_shadow(self, device_id: str) -> None:
        """Send the device its undelivered desired changes if it is connected to this node (DECISIONS D4); a
        device connected nowhere gets them when it next subscribes."""
        awaiting = self._awaiting.get(device_id)
        if self._link is None or awaiting is None:
            return
        pending = await self._db.read(lambda conn: device_store.pending_desired(conn, device_id))
        for row in pending:
            if row["id"] in awaiting.values():
                continue
            mid = self._next_mid(device_id, awaiting)
            message = {
                "msgType": "cloudReq",
                "serviceId": row["service_id"],
                "cmd": SET_DESIRED,
                "paras": row["desired"],
                "mid": mid,
            }
            awaiting[mid] = row["id"]
            if not await self._link.send(device_id, message):
                awaiting.pop(mid, None)
                return

    async def answer(self, device: DeviceSession, mid: int, errcode: int, body: Any) -> None:
        history_id = self._awaiting.get(device.device_id, {}).pop(mid, None)
        if history_id is None:
            log.info("deviceRsp from %s for mid %s, which awaits no answer", device.device_id, mid)
            return
        status = "DELIVERED" if errcode == 0 else "FAILED"

        def settle(conn: sa.Connection) -> None:
            row = device_store.settle_desired(conn, history_id, status)
            if row is None:
                return
            payload = notifications.desired_status_changed(row["device_id"], row["service_id"], row["desired"], status)
            outbox.append(conn, row["app_id"], payload, now_ms())

        await self._db.write(settle)

    def _next_mid(self, device_id: str, awaiting: dict[int, int]) -> int:
        """1..65535, unique among the device's messages awaiting an answer (DECISIONS C1)."""
        mid = self._last_mid.get(device_id, 0)
        for _ in range(_MAX_MID):
            mid = mid % _MAX_MID + 1
            if mid not in awaiting:
                self._last_mid[device_id] = mid
                return mid
        raise RuntimeError(f"{device_id} has {_MAX_MID} messages awaiting an answer")


def _go_offline(conn: sa.Connection, row: sa.RowMapping, now: int) -> None:
    """The device's session ended: OFFLINE (deviceInfoChanged when that is a change)."""
    if row["status"] == Status.OFFLINE.value:
        device_store.update(conn, row["device_id"], _NO_SESSION)
        return
    changes = {**_NO_SESSION, "status": Status.OFFLINE.value, "status_detail": "NONE", "modified_at": now}
    device_store.update(conn, row["device_id"], changes)
    outbox.append(conn, row["app_id"], notifications.device_info_changed({**row, **changes}), now)


def _sessions_ended(conn: sa.Connection, node_id: str, now: int) -> None:
    """A node is gone, and the sessions of the devices connected to it with it."""
    for row in device_store.with_session_on(conn, node_id):
        _go_offline(conn, row, now)
