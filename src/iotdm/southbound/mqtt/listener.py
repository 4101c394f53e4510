"""The device MQTT listener: accepts connections (TLS by default), keeps one session per device, and reaches
connected devices for the platform (``DeviceLink``)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Any

from iotdm.domain.reports import InvalidReport
from iotdm.services.device_port import DeviceGateway
from iotdm.southbound.codecs import Codec
from iotdm.southbound.mqtt.session import Session

log = logging.getLogger(__name__)


class MqttListener:
    def __init__(
        self,
        gateway: DeviceGateway,
        *,
        codecs: Mapping[str, Codec],
        max_packet_size: int,
        connect_timeout: float = 10.0,
        write_timeout: float = 30.0,
    ) -> None:
        self._gateway = gateway
        self._codecs = codecs
        self._max_packet_size = max_packet_size
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._server: asyncio.Server | None = None
        self._sessions: dict[str, Session] = {}  # deviceId -> its current session
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None) -> int:
        """Listen; answer the bound port (``port`` 0 picks a free one)."""
        self._server = await asyncio.start_server(self._accept, host, port, ssl=tls, limit=self._max_packet_size)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions.values()):
            session.replace()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(
            reader,
            writer,
            self._gateway,
            self._claim,
            self._codecs,
            max_packet_size=self._max_packet_size,
            connect_timeout=self._connect_timeout,
            write_timeout=self._write_timeout,
        )
        task = asyncio.create_task(self._serve(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, device_id: str, message: dict[str, Any]) -> bool:
        """DeviceLink: publish to a device connected to this node."""
        session = self._sessions.get(device_id)
        if session is None:
            return False
        try:
            await session.deliver(message)
        except (ConnectionError, TimeoutError, InvalidReport):
            return False
        return True

    def _claim(self, session: Session) -> None:
        """``session`` is now the device's one session; an older one is closed (DECISIONS M2)."""
        assert session.device is not None
        older = self._sessions.get(session.device.device_id)
        self._sessions[session.device.device_id] = session
        if older is not None and older is not session:
            older.replace()

    async def _serve(self, session: Session) -> None:
        await session.run()
        device = session.device
        if device is not None and self._sessions.get(device.device_id) is session:
            del self._sessions[device.device_id]
            try:
                await self._gateway.disconnected(device)
            except Exception:
                log.exception("could not mark %s offline", device.device_id)
