"""The device registry (§1.4): registration, key refresh, modification, deletion, activation status.

Every change writes its outbox events in its own transaction (transactional outbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from iotdm.domain import notifications
from iotdm.domain.devices import NodeType, Row, Status
from iotdm.domain.errors import E, PlatformError
from iotdm.domain.notifications import BindResult
from iotdm.domain.profiles import KEY_FIELDS
from iotdm.services import credentials
from iotdm.services.clock import now_ms
from iotdm.services.credentials import Keyring
from iotdm.store import devices as device_store
from iotdm.store import outbox, timers
from iotdm.store import profiles as profile_store
from iotdm.store.engine import Database
from iotdm.store.schema import devices

REGISTRATION_TIMER = "registration"


@dataclass(frozen=True)
class Registration:
    """What both registration APIs (§1.4.1, §1.4.2) carry, already validated."""

    node_id: str
    info: dict[str, str | None] = field(default_factory=dict)  # devices column -> value
    attrs: dict[str, Any] = field(default_factory=dict)  # devices column -> value
    verify_code: str | None = None
    psk: str | None = None
    secret: str | None = None
    timeout: int | None = None
    is_secure: bool = False
    mqtt_connect: bool = False


@dataclass(frozen=True)
class Registered:
    device_id: str
    verify_code: str | None
    psk: str
    secret: str | None
    timeout: int


class Registry:
    def __init__(self, db: Database, keyring: Keyring, default_timeout: int) -> None:
        self._db = db
        self._keyring = keyring
        self._default_timeout = default_timeout

    async def register(self, app_id: str, reg: Registration, *, password_mode: bool) -> Registered:
        """§1.4.1 (verify-code mode) and §1.4.2 (password mode, ``password_mode``)."""
        device_id = credentials.new_device_id()
        psk = reg.psk or credentials.new_psk()
        verify_code = None if password_mode else (reg.verify_code or credentials.new_verify_code())
        secret = (reg.secret or credentials.new_secret()) if password_mode else None
        # Password-mode devices have no verify code and no registration expiry (docs/decisions.md).
        timeout = 0 if password_mode else (self._default_timeout if reg.timeout is None else reg.timeout)
        now = now_ms()
        values: dict[str, Any] = {
            **reg.attrs,
            **reg.info,
            "device_id": device_id,
            "app_id": app_id,
            "gateway_id": device_id,
            "node_type": NodeType.GATEWAY.value,
            "created_at": now,
            "modified_at": now,
            "node_id": reg.node_id,
            "verify_code": verify_code,
            "psk_enc": self._keyring.encrypt(psk),
            "secret_enc": self._keyring.encrypt(secret) if secret else None,
            "timeout": timeout,
            "activated": False,
            "mqtt_connect": reg.mqtt_connect,
            "is_secure": reg.is_secure,
            "status": Status.INACTIVE.value,
            "status_detail": "NOT_ACTIVE",
            "mute": "FALSE",
        }

        def insert(conn: sa.Connection) -> None:
            if values.get("product_id"):
                _take_product_model(conn, values)
            _ensure_node_id_free(conn, reg.node_id, device_id)
            try:
                device_store.insert(conn, values)
            except sa.exc.IntegrityError as exc:  # a concurrent registration took the nodeId
                raise PlatformError(E.NODE_ID_DUPLICATED) from exc
            if timeout:
                timers.arm(conn, REGISTRATION_TIMER, device_id, now + timeout * 1000)
            # The new row is what was just written: every column not given is empty.
            row = {column.name: None for column in devices.columns} | values
            outbox.append(conn, app_id, notifications.device_added(row), now)

        await self._db.write(insert)
        return Registered(device_id, verify_code, psk, secret, timeout)

    async def refresh_key(
        self, app_id: str, device_id: str, node_id: str | None, verify_code: str | None, timeout: int | None
    ) -> tuple[str, int]:
        """§1.4.3: new nodeId and/or verify code for the same deviceId; refused while online (D3)."""
        timeout = self._default_timeout if timeout is None else timeout
        verify_code = verify_code or credentials.new_verify_code()
        now = now_ms()

        def refresh(conn: sa.Connection) -> None:
            # The registration timer before the device row: the scheduler locks them in that order too.
            timers.disarm(conn, REGISTRATION_TIMER, device_id)
            row = _device(conn, app_id, device_id, lock=True)
            if row["status"] == Status.ONLINE.value:
                raise PlatformError(E.DEVICE_ONLINE)
            values: dict[str, Any] = {"verify_code": verify_code, "timeout": timeout, "modified_at": now}
            if node_id is not None and node_id != row["node_id"]:
                _ensure_node_id_free(conn, node_id, device_id)
                values["node_id"] = node_id
            try:
                device_store.update(conn, device_id, values)
            except sa.exc.IntegrityError as exc:  # a concurrent registration or refresh took the nodeId
                raise PlatformError(E.NODE_ID_DUPLICATED) from exc
            if not row["activated"] and timeout:
                # A never-activated registration gets a fresh validity period; an activated device never expires.
                timers.arm(conn, REGISTRATION_TIMER, device_id, now + timeout * 1000)
            if "node_id" in values:
                _emit_info_changed(conn, {**row, **values}, now)

        await self._db.write(refresh)
        return verify_code, timeout

    async def modify(self, app_id: str, device_id: str, values: dict[str, Any], psk: str | None = None) -> None:
        """§1.4.4: ``values`` maps devices columns to their new values (absent fields are not in it)."""
        now = now_ms()
        if psk is not None:
            values = {**values, "psk_enc": self._keyring.encrypt(psk)}

        def modify(conn: sa.Connection) -> None:
            row = _device(conn, app_id, device_id, lock=True)
            if not values:  # nothing changes, so there is nothing to tell
                return
            changes = {**values, "modified_at": now}
            device_store.update(conn, device_id, changes)
            _emit_info_changed(conn, {**row, **changes}, now)

        await self._db.write(modify)

    async def delete(self, app_id: str, device_id: str, cascade: bool) -> None:
        """§1.4.5: children are deleted too (cascade) or become directly connected devices."""
        now = now_ms()

        def delete(conn: sa.Connection) -> None:
            # The registration timer before the device row: the scheduler locks them in that order too.
            timers.disarm(conn, REGISTRATION_TIMER, device_id)
            row = _device(conn, app_id, device_id, lock=True)
            children = device_store.children(conn, device_id)
            doomed = [row, *children] if cascade else [row]
            for child in [] if cascade else children:
                orphan = {"gateway_id": child["device_id"], "node_type": NodeType.GATEWAY.value, "modified_at": now}
                device_store.update(conn, child["device_id"], orphan)
                _emit_info_changed(conn, {**child, **orphan}, now)
            device_store.delete(conn, [d["device_id"] for d in doomed])
            for gone in doomed:
                timers.disarm(conn, REGISTRATION_TIMER, gone["device_id"])
                outbox.append(conn, gone["app_id"], notifications.device_deleted(gone), now)

        await self._db.write(delete)

    async def activation(self, app_id: str, device_id: str) -> dict[str, Any]:
        """§1.4.7."""
        row = await self._db.read(lambda conn: _device(conn, app_id, device_id))
        return {"deviceId": row["device_id"], "activated": bool(row["activated"]), "name": row["name"]}


def expire_registration(conn: sa.Connection, device_id: str) -> None:
    """The registration timer lapsed: delete a still unactivated device and push bindDevice expired (D1)."""
    row = device_store.get_any(conn, device_id, lock=True)
    if row is None or row["activated"]:
        return
    device_store.delete(conn, [device_id])
    outbox.append(conn, row["app_id"], notifications.bind_device(row, BindResult.EXPIRED), now_ms())


def _device(conn: sa.Connection, app_id: str, device_id: str, *, lock: bool = False) -> sa.RowMapping:
    """The app's device or 100403; ``lock``: a concurrent change of it waits for this transaction, and one that
    committed first is seen (a device deleted meanwhile is unknown)."""
    row = device_store.get(conn, app_id, device_id, lock=lock)
    if row is None:
        raise PlatformError(E.DEVICE_NOT_FOUND)
    return row


def _ensure_node_id_free(conn: sa.Connection, node_id: str, device_id: str) -> None:
    owner = device_store.node_id_owner(conn, node_id)
    if owner is not None and owner != device_id:
        raise PlatformError(E.NODE_ID_DUPLICATED)


def _emit_info_changed(conn: sa.Connection, row: Row, now: int) -> None:
    """deviceInfoChanged of ``row`` as just written (built from it, not read back)."""
    outbox.append(conn, row["app_id"], notifications.device_info_changed(row), now)


def _take_product_model(conn: sa.Connection, values: dict[str, Any]) -> None:
    """A registration by productId names a loaded product model (else 403 600002, §1.4.1 L774); the model fields
    the registration leaves out are the product's, so the device shows and resolves the model it was given."""
    product = profile_store.by_product_id(conn, values["product_id"])
    if product is None:
        raise PlatformError(E.PRODUCT_NOT_EXISTED)
    for _, column in KEY_FIELDS:
        if not values.get(column):
            values[column] = product[column]
