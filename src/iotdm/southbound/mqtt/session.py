"""One device connection: a state machine from CONNECT to close (MQTT 3.1.1; DECISIONS M1, M2).

PUBLISH on the device's data topic goes to the gateway; the PUBACK is sent only once the gateway has committed
the report. The reports one read brings are stored together and acknowledged together before the next read, so
a device that sends faster than its reports commit is slowed by TCP itself, and nothing buffers without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from iotdm.domain.device_auth import CONNACK_BAD_PROTOCOL
from iotdm.domain.reports import InvalidReport, parse_answer, parse_message, parse_report
from iotdm.services.device_port import ConnectRefused, ConnectRequest, DeviceGateway, DeviceSession
from iotdm.southbound.codecs import Codec
from iotdm.southbound.mqtt import codec, topics

log = logging.getLogger(__name__)

_READ_CHUNK = 65536
_WRITE_BUFFER_HIGH = 64 * 1024
SUBACK_FAILURE = 0x80


class Closed(Exception):
    """The session ends: the peer left, broke the protocol, timed out, or was replaced."""


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        gateway: DeviceGateway,
        claim: Callable[[Session], None],
        codecs: Mapping[str, Codec],
        *,
        max_packet_size: int,
        connect_timeout: float,
        write_timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._gateway = gateway
        self._claim = claim
        self._codecs = codecs
        self._binary_commands = False  # the device listens on command/binary: send it bytes through its codec
        self._decoder = codec.Decoder(max_packet_size)
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._keep_alive: float | None = None
        self._ready: deque[codec.Packet] = deque()
        self.device: DeviceSession | None = None
        self.invalid_reports = 0
        self._last_packet_id = 0

    async def run(self) -> None:
        """Serve the connection until it ends; never raises."""
        try:
            await self._serve()
        except (Closed, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except codec.MalformedPacket as exc:
            log.info("closing %s: %s", self._peer(), exc)
        except Exception:
            log.exception("closing %s after an unexpected error", self._peer())
        finally:
            self._writer.close()

    def replace(self) -> None:
        """A newer connection of the same device takes over (DECISIONS M2)."""
        self._writer.close()

    async def _serve(self) -> None:
        try:
            first = await self._next_packet(self._connect_timeout)
        except codec.UnsupportedProtocol:
            await self._send(codec.ConnAck(return_code=CONNACK_BAD_PROTOCOL))
            raise
        if not isinstance(first, codec.Connect):
            raise Closed  # §3.1.0-1: the first packet must be CONNECT
        await self._connect(first)
        assert self.device is not None
        own_topics = topics.data_topics(self.device.topic_id)
        while True:
            # §3.1.2-24: nothing heard for 1.5 keep-alive periods means the client is gone.
            self._ready.append(await self._next_packet(self._keep_alive))
            # Everything one read brought is handled together: its reports go to the writer at once, and their
            # PUBACKs leave in one write, in order, once all of them are committed.
            stored: list[tuple[int | None, Awaitable[None] | None]] = []
            while self._ready:
                packet = self._ready.popleft()
                if not isinstance(packet, codec.Publish):
                    await self._acknowledge(stored)
                    await self._handle(packet)
                elif packet.topic not in own_topics:
                    log.warning("%s published on %s, not its own topic: dropped", self.device.device_id, packet.topic)
                else:
                    stored.append((packet.packet_id, self._accept(packet)))
            await self._acknowledge(stored)

    async def _acknowledge(self, stored: list[tuple[int | None, Awaitable[None] | None]]) -> None:
        """Wait for each PUBLISH to be stored, in order, then PUBACK those at QoS 1 together; a failure closes the
        session before any of the later ones is acknowledged."""
        if not stored:
            return
        for _, done in stored:
            if done is not None:
                await done
        acks = b"".join(codec.encode(codec.PubAck(packet_id)) for packet_id, _ in stored if packet_id is not None)
        stored.clear()
        if acks:
            await self._write(acks)

    async def _next_packet(self, timeout: float | None) -> codec.Packet:
        while not self._ready:
            data = await asyncio.wait_for(self._reader.read(_READ_CHUNK), timeout)
            if not data:
                raise Closed
            self._ready.extend(self._decoder.feed(data))
        return self._ready.popleft()

    async def _connect(self, packet: codec.Connect) -> None:
        request = ConnectRequest(packet.client_id, packet.username, packet.password)
        try:
            self.device = await self._gateway.authenticate(request)
        except ConnectRefused as refused:
            log.info("refusing %s (%s): %s", packet.client_id, self._peer(), refused)
            await self._send(codec.ConnAck(return_code=refused.return_code))
            raise Closed from refused
        self._keep_alive = packet.keep_alive * 1.5 if packet.keep_alive else None
        self._claim(self)
        await self._send(codec.ConnAck(return_code=0))
        await self._gateway.connected(self.device)

    async def _handle(self, packet: codec.Packet) -> None:
        assert self.device is not None
        match packet:
            case codec.Subscribe():
                await self._subscribe(packet)
            case codec.Unsubscribe():
                await self._send(codec.UnsubAck(packet.packet_id))
            case codec.PingReq():
                await self._send(codec.PingResp())
            case codec.Disconnect():
                raise Closed
            case codec.PubAck():
                pass  # acknowledgements of platform messages come with command delivery
            case _:
                raise Closed  # CONNECT twice (§3.1.0-2), or a packet only a server sends

    async def _subscribe(self, packet: codec.Subscribe) -> None:
        assert self.device is not None
        allowed = topics.command_topics(self.device.topic_id)
        # QoS 2 is granted as 1 (DECISIONS M2); anything but the device's own command topics is refused.
        codes = tuple(min(qos, 1) if t in allowed else SUBACK_FAILURE for t, qos in packet.subscriptions)
        await self._send(codec.SubAck(packet.packet_id, codes))
        granted = [t for t, _ in packet.subscriptions if t in allowed]
        if any(topics.codec_mode(t) == "binary" for t in granted):
            self._binary_commands = True
        if granted:
            await self._gateway.subscribed(self.device)

    def _accept(self, packet: codec.Publish) -> Awaitable[None] | None:
        """Hand a PUBLISH on the device's data topic to the gateway; answer what to wait for before PUBACK."""
        assert self.device is not None
        try:
            if topics.codec_mode(packet.topic) == "binary":
                message = self._codec().decode(packet.payload)
            else:
                message = parse_message(packet.payload)
            kind = message.get("msgType")
            if kind == "deviceRsp":
                mid, errcode, body = parse_answer(message)
                return asyncio.ensure_future(self._gateway.answer(self.device, mid, errcode, body))
            if kind != "deviceReq":
                raise InvalidReport(f"msgType {kind!r} is not handled")
            services = parse_report(message)
        except (InvalidReport, ValueError) as exc:  # ValueError: a codec plug-in refused the bytes
            # Acknowledged all the same, so that the device does not send it again and again.
            self.invalid_reports += 1
            log.warning("invalid message from %s: %s", self.device.device_id, exc)
            return None
        return self._gateway.report(self.device, services)

    async def deliver(self, message: dict[str, Any]) -> None:
        """Publish a platform message to the device, QoS 1: through its codec on command/binary when it listens
        there, else as JSON on command/json."""
        assert self.device is not None
        self._last_packet_id = self._last_packet_id % 0xFFFF + 1
        if self._binary_commands:
            topic, payload = topics.command_topic(self.device.topic_id, "binary"), self._codec().encode(message)
        else:
            topic, payload = topics.command_topic(self.device.topic_id), orjson.dumps(message)
        await self._send(codec.Publish(topic, payload, qos=1, packet_id=self._last_packet_id))

    def _codec(self) -> Codec:
        assert self.device is not None
        found = self._codecs.get(self.device.model_key)
        if found is None:  # DECISIONS M3: no codec, no binary
            raise InvalidReport(f"no codec plug-in for the product model {self.device.model_key!r}")
        return found

    async def _send(self, packet: codec.Packet) -> None:
        await self._write(codec.encode(packet))

    async def _write(self, data: bytes) -> None:
        self._writer.write(data)
        # Only a peer that does not read builds up a buffer; it is closed rather than buffered for without bound.
        # (Checked first: a timeout per packet would cost more than the packet.)
        if self._writer.transport.get_write_buffer_size() > _WRITE_BUFFER_HIGH:
            await asyncio.wait_for(self._writer.drain(), self._write_timeout)

    def _peer(self) -> str:
        return str(self._writer.get_extra_info("peername"))
