"""The one contract between device access (``southbound``) and the platform core.

Southbound code calls a ``DeviceGateway`` (and an ``AppGateway`` for applications that take their pushes over
MQTT, DECISIONS S5) and imports nothing else from ``services`` or ``store``: a transport never reads the
database, and the core never touches a socket.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from iotdm.domain.reports import ServiceData


class ConnectRefused(Exception):
    """CONNECT refused with an MQTT 3.1.1 CONNACK return code (DECISIONS M1)."""

    def __init__(self, return_code: int, reason: str) -> None:
        super().__init__(reason)
        self.return_code = return_code


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    client_id: str
    username: str | None
    password: bytes | None


def _new_session_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """An authenticated device; ``topic_id`` is the id its topics use (deviceId, or nodeId with authType 2);
    ``model_key`` names its product model, and so its codec plug-in; ``service_types`` maps its profile's
    serviceIds to their serviceType (read at connection time); ``session_id`` tells this connection from the
    device's earlier and later ones, on any node."""

    device_id: str
    topic_id: str
    app_id: str
    gateway_id: str
    model_key: str
    service_types: Mapping[str, str] = field(default_factory=dict)
    session_id: str = field(default_factory=_new_session_id)


class DeviceGateway(Protocol):
    async def authenticate(self, request: ConnectRequest) -> DeviceSession:
        """The device behind a CONNECT, or ConnectRefused."""
        ...

    async def connected(self, device: DeviceSession) -> None:
        """The device's session is up (activates it on first connection; ONLINE); called before the CONNACK."""
        ...

    async def subscribed(self, device: DeviceSession) -> None:
        """The device now listens on its command topic: messages waiting for it can go."""
        ...

    async def disconnected(self, device: DeviceSession) -> None:
        """The device's session ended (OFFLINE, unless a newer session of it started meanwhile, on any node)."""
        ...

    def report(self, device: DeviceSession, reports: list[list[ServiceData]]) -> Awaitable[None]:
        """Queue reports (each a list of services) for storage; the answer completes once they are committed (and
        raises if they were not)."""
        ...

    async def answer(self, device: DeviceSession, mid: int, errcode: int, body: Any) -> None:
        """The device's ``deviceRsp`` to a platform message (DECISIONS C2)."""
        ...


class DeviceLink(Protocol):
    """What the platform asks of a transport: reach a connected device."""

    async def send(self, device_id: str, message: dict[str, Any]) -> bool:
        """Publish ``message`` on the device's command topic; False when it is not connected here."""
        ...

    def close(self, device_id: str, session_id: str) -> None:
        """End the device's session ``session_id`` if it is on this node (a newer one took over elsewhere)."""
        ...


@dataclass(frozen=True, slots=True)
class AppSession:
    """An application connected to the MQTT listener to receive its pushes (DECISIONS S5)."""

    app_id: str
    client_id: str
    session_id: str = field(default_factory=_new_session_id)


class AppGateway(Protocol):
    async def authenticate_app(self, request: ConnectRequest) -> AppSession:
        """The application behind a CONNECT (username appId, password a valid accessToken), or ConnectRefused."""
        ...

    async def app_connected(self, app: AppSession) -> None:
        """The client's session is up: pushes to the app may come through this node (an older session of the same
        client, on another node, is ended); called before the CONNACK."""
        ...

    async def app_disconnected(self, app: AppSession) -> None:
        """The client's session ended (a newer session of the same client, on any node, keeps it listed)."""
        ...


class AppLink(Protocol):
    """What the platform asks of a transport about applications' clients."""

    def close_app(self, app_id: str, client_id: str, session_id: str) -> None:
        """End the client's session ``session_id`` if it is on this node (a newer one took over elsewhere)."""
        ...
