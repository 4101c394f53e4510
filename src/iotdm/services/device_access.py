"""The platform side of device access: the ``DeviceGateway`` the transports call (DECISIONS M1, D2)."""

from __future__ import annotations

import logging

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
from iotdm.domain.devices import Status
from iotdm.domain.notifications import BindResult
from iotdm.domain.reports import ServiceData
from iotdm.services.clock import now_ms, to_datetime
from iotdm.services.credentials import Keyring
from iotdm.services.device_port import ConnectRefused, ConnectRequest, DeviceSession
from iotdm.services.ingest import ReportWriter
from iotdm.services.registry import REGISTRATION_TIMER
from iotdm.store import devices as device_store
from iotdm.store import outbox, timers
from iotdm.store.engine import Database

log = logging.getLogger(__name__)


class DeviceAccess:
    def __init__(self, db: Database, keyring: Keyring, writer: ReportWriter) -> None:
        self._db = db
        self._keyring = keyring
        self._writer = writer

    async def authenticate(self, request: ConnectRequest) -> DeviceSession:
        client = parse_client_id(request.client_id)
        if client is None:
            raise ConnectRefused(CONNACK_IDENTIFIER_REJECTED, "malformed clientId")
        if client.auth_type is AuthType.ONE_MODEL_ONE_SECRET:
            raise ConnectRefused(CONNACK_NOT_AUTHORIZED, "one-model-one-secret is not enabled")
        if request.username != client.device_ref:
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "username is not the clientId's id")
        if client.auth_type is AuthType.NODE_ID:
            device_id = await self._db.read(lambda conn: device_store.node_id_owner(conn, client.device_ref))
        else:
            device_id = client.device_ref
        row = None if device_id is None else await self._db.read(lambda conn: device_store.get_any(conn, device_id))
        if row is None or row["mute"] == "TRUE":
            raise ConnectRefused(CONNACK_NOT_AUTHORIZED, "unknown, deleted or frozen device")
        if row["secret_enc"] is None:
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "the device has no secret")
        if not timestamp_fresh(client, to_datetime(now_ms())):
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "stale timestamp")
        if not password_matches(request.password, self._keyring.decrypt(row["secret_enc"]), client.timestamp):
            raise ConnectRefused(CONNACK_BAD_CREDENTIALS, "wrong password")
        return DeviceSession(row["device_id"], client.device_ref, row["app_id"], row["gateway_id"])

    async def connected(self, device: DeviceSession) -> None:
        """ONLINE; the first connection ever activates the device (bindDevice succeeded, D2)."""

        def online(conn: sa.Connection) -> None:
            now = now_ms()
            timers.disarm(conn, REGISTRATION_TIMER, device.device_id)
            row = device_store.get_any(conn, device.device_id, lock=True)
            if row is None:
                return
            first = not row["activated"]
            values = {"status": Status.ONLINE.value, "status_detail": "NONE", "last_online_at": now}
            device_store.update(conn, device.device_id, {**values, "activated": True, "modified_at": now})
            row = device_store.get_any(conn, device.device_id)
            assert row is not None
            if first:
                outbox.append(conn, row["app_id"], notifications.bind_device(row, BindResult.SUCCEEDED), now)
            outbox.append(conn, row["app_id"], notifications.device_info_changed(row), now)

        await self._db.write(online)

    async def disconnected(self, device: DeviceSession) -> None:
        def offline(conn: sa.Connection) -> None:
            now = now_ms()
            row = device_store.get_any(conn, device.device_id, lock=True)
            if row is None or row["status"] == Status.OFFLINE.value:
                return
            device_store.update(
                conn, device.device_id, {"status": Status.OFFLINE.value, "status_detail": "NONE", "modified_at": now}
            )
            row = device_store.get_any(conn, device.device_id)
            assert row is not None
            outbox.append(conn, row["app_id"], notifications.device_info_changed(row), now)

        await self._db.write(offline)

    async def report(self, device: DeviceSession, services: list[ServiceData]) -> None:
        await self._writer.submit(device, services)
