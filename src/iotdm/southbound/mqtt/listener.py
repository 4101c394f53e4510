"""The MQTT listener: accepts connections (TLS by default), keeps one session per device, and reaches connected
devices for the platform (``DeviceLink``); applications that take their pushes over MQTT connect here too
(DECISIONS S5), one session per (app, clientId)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Coroutine, Mapping
from typing import Any

from iotdm.domain.reports import InvalidReport
from iotdm.services.device_port import AppGateway, DeviceGateway
from iotdm.southbound.codecs import Codec
from iotdm.southbound.mqtt.session import Session, SessionContext

log = logging.getLogger(__name__)

_SWEEP_INTERVAL = 1.0  # keep-alive and connect timeouts are enforced to within this many seconds


class MqttListener:
    def __init__(
        self,
        gateway: DeviceGateway,
        apps: AppGateway,
        *,
        codecs: Mapping[str, Codec],
        max_packet_size: int,
        connect_timeout: float = 10.0,
        write_timeout: float = 30.0,
    ) -> None:
        self._gateway = gateway
        self._apps = apps
        self._context = SessionContext(
            gateway=gateway,
            apps=apps,
            codecs=codecs,
            claim=self._claim,
            ended=self._ended,
            max_packet_size=max_packet_size,
            connect_timeout=connect_timeout,
            write_timeout=write_timeout,
        )
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._live: set[Session] = set()  # every open connection, for the sweep
        self._sessions: dict[str, Session] = {}  # deviceId -> its current session
        self._app_clients: dict[str, dict[str, Session]] = {}  # appId -> clientId -> its current session
        self._goodbyes: set[asyncio.Task[None]] = set()  # devices being marked offline

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None) -> int:
        """Listen; answer the bound port (``port`` 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, host, port, ssl=tls)
        self._sweeper = loop.create_task(self._sweep())
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self.close_all()
        # Closing is asynchronous: give the sessions a moment to end and their devices to be marked offline.
        for _ in range(50):
            if not self._live and not self._goodbyes:
                break
            await asyncio.sleep(0.1)

    async def send(self, device_id: str, message: dict[str, Any]) -> bool:
        """DeviceLink: publish to a device connected to this node."""
        session = self._sessions.get(device_id)
        if session is None:
            return False
        try:
            await session.deliver(message)
        except (ConnectionError, InvalidReport):
            return False
        return True

    def close(self, device_id: str, session_id: str) -> None:
        """DeviceLink: a newer session of the device started on another node (DECISIONS M2)."""
        session = self._sessions.get(device_id)
        if session is not None and session.device is not None and session.device.session_id == session_id:
            session.close()

    def close_app(self, app_id: str, client_id: str, session_id: str) -> None:
        """AppLink: a newer session of the app client started on another node."""
        session = self._app_clients.get(app_id, {}).get(client_id)
        if session is not None and session.app is not None and session.app.session_id == session_id:
            session.close()

    def close_all(self) -> None:
        """End every session (the clients reconnect, to this node or another)."""
        for session in list(self._live):
            session.close()

    async def push(self, app_id: str, body: bytes) -> None:
        """Publish a push to every client of ``app_id`` that listens on its notifications topic; done once one of
        them acknowledged it. Raises ConnectionError when none did."""
        listening = [s for s in self._app_clients.get(app_id, {}).values() if s.app_listens]
        if not listening:
            raise ConnectionError(f"no MQTT client of app {app_id} listens on this node")
        outcomes = await asyncio.gather(*(s.push(body) for s in listening), return_exceptions=True)
        if all(isinstance(outcome, BaseException) for outcome in outcomes):
            raise ConnectionError(f"no MQTT client of app {app_id} acknowledged the push: {outcomes[0]}")

    def _session(self) -> Session:
        session = Session(self._context)
        self._live.add(session)
        return session

    def _claim(self, session: Session) -> None:
        """``session`` is now the device's (the app client's) one session; an older one is closed (M2)."""
        if session.app is not None:
            clients = self._app_clients.setdefault(session.app.app_id, {})
            older = clients.get(session.app.client_id)
            clients[session.app.client_id] = session
        else:
            assert session.device is not None
            older = self._sessions.get(session.device.device_id)
            self._sessions[session.device.device_id] = session
        if older is not None and older is not session:
            older.close()

    def _ended(self, session: Session) -> None:
        self._live.discard(session)
        app = session.app
        if app is not None:
            clients = self._app_clients.get(app.app_id, {})
            if clients.get(app.client_id) is session:
                del clients[app.client_id]
                if not clients:
                    del self._app_clients[app.app_id]
                self._goodbye(self._apps.app_disconnected(app), f"app {app.app_id} client {app.client_id}")
        device = session.device
        if device is not None and self._sessions.get(device.device_id) is session:
            del self._sessions[device.device_id]
            self._goodbye(self._gateway.disconnected(device), device.device_id)

    def _goodbye(self, ended: Coroutine[Any, Any, None], who: str) -> None:
        """Record that a session ended, in the background (the stop waits for these)."""
        task = asyncio.get_running_loop().create_task(_record_end(ended, who))
        self._goodbyes.add(task)
        task.add_done_callback(self._goodbyes.discard)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL)
            now = loop.time()
            for session in list(self._live):
                session.expire(now)


async def _record_end(ended: Coroutine[Any, Any, None], who: str) -> None:
    try:
        await ended
    except Exception:
        log.exception("could not record that the session of %s ended", who)
