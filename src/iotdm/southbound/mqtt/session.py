"""One device connection: a state machine from CONNECT to close (MQTT 3.1.1; DECISIONS M1, M2).

A session is an ``asyncio.Protocol`` with no task of its own while idle: an idle connection costs its transport
and a few slots, and keep-alive is judged by the listener's periodic sweep (``expire``). When bytes arrive, a
short-lived worker handles the packets they complete and ends when nothing is left.

PUBLISH on the device's data topic goes to the gateway; the PUBACK is sent only once the gateway has committed
the report. The reports one read brings are stored together and acknowledged together; while they commit the
session reads at most one more chunk ahead, and reading stops while the peer does not take what is written to
it, so nothing buffers without bound and a device that sends faster than its reports commit is slowed by TCP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from iotdm.domain.device_auth import CONNACK_BAD_PROTOCOL, parse_client_id
from iotdm.domain.reports import InvalidReport, ServiceData, parse_answer, parse_message, parse_report
from iotdm.services.device_port import (
    AppGateway,
    AppSession,
    ConnectRefused,
    ConnectRequest,
    DeviceGateway,
    DeviceSession,
)
from iotdm.southbound.codecs import Codec
from iotdm.southbound.mqtt import codec, topics

log = logging.getLogger(__name__)

SUBACK_FAILURE = 0x80


class Closed(ConnectionError):
    """The session ends: the peer left, broke the protocol, or was replaced (so a write to it fails)."""


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What every session of a listener shares (one reference per session instead of one per field)."""

    gateway: DeviceGateway
    apps: AppGateway
    codecs: Mapping[str, Codec]
    claim: Callable[[Session], None]  # the session now speaks for its device (or app client)
    ended: Callable[[Session], None]  # the connection is gone and the session's work is done
    max_packet_size: int
    connect_timeout: float
    write_timeout: float


@dataclass(slots=True)
class _Accepted:
    """PUBLISHes of a batch taken but not acknowledged yet: the reports to store, the answers being handled, and
    the packet ids to PUBACK once both are done."""

    reports: list[list[ServiceData]] = field(default_factory=list)
    waits: list[Awaitable[None]] = field(default_factory=list)
    packet_ids: list[int] = field(default_factory=list)

    def clear(self) -> None:
        self.reports.clear()
        self.waits.clear()
        self.packet_ids.clear()


class Session(asyncio.Protocol):
    __slots__ = (
        "_acks",
        "_binary_commands",
        "_ctx",
        "_decoder",
        "_keep_alive",
        "_last_packet_id",
        "_lost",
        "_ready",
        "_transport",
        "_worker",
        "_write_paused_at",
        "app",
        "app_listens",
        "device",
        "heard_at",
        "invalid_reports",
    )

    def __init__(self, ctx: SessionContext) -> None:
        self._ctx = ctx
        self._transport: asyncio.Transport | None = None
        self._decoder = codec.Decoder(ctx.max_packet_size)
        self._ready: list[codec.Packet] = []
        self._worker: asyncio.Task[None] | None = None
        self._lost = False
        self._write_paused_at: float | None = None
        self._keep_alive: float | None = None
        self._binary_commands = False  # the device listens on command/binary: send it bytes through its codec
        self._last_packet_id = 0
        self.device: DeviceSession | None = None
        # An application taking its pushes (DECISIONS S5) instead of a device; PUBLISHes it has not acknowledged.
        self.app: AppSession | None = None
        self.app_listens = False
        self._acks: dict[int, asyncio.Future[None]] | None = None  # made for an app only: idle devices are many
        self.heard_at = asyncio.get_running_loop().time()
        self.invalid_reports = 0

    # asyncio.Protocol ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        if transport.is_closing():
            return
        self.heard_at = asyncio.get_running_loop().time()
        try:
            self._ready += self._decoder.feed(data)
        except codec.UnsupportedProtocol:
            if self.device is None and self.app is None:
                transport.write(codec.encode(codec.ConnAck(return_code=CONNACK_BAD_PROTOCOL)))
            transport.close()
            return
        except codec.MalformedPacket as exc:
            log.info("closing %s: %s", self._peer(), exc)
            transport.close()
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        else:  # one chunk ahead of the worker is enough
            self._pause_reading()

    def pause_writing(self) -> None:
        # The peer does not read: stop reading from it too, and let the sweep close it if that lasts.
        self._write_paused_at = asyncio.get_running_loop().time()
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused_at = None
        self._resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        for waiting in (self._acks or {}).values():
            if not waiting.done():
                waiting.set_exception(ConnectionError("the connection is gone"))
        if self._worker is None:
            self._ctx.ended(self)

    # Listener ------------------------------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """Close the connection if it outlived its limits."""
        if self.device is None and self.app is None:
            limit: float | None = self._ctx.connect_timeout
        else:
            limit = self._keep_alive  # §3.1.2-24: nothing heard for 1.5 keep-alive periods: the client is gone
        stalled = self._write_paused_at is not None and now - self._write_paused_at > self._ctx.write_timeout
        if stalled or (limit is not None and now - self.heard_at > limit):
            self.close()

    def close(self) -> None:
        """A newer connection of the same device takes over (DECISIONS M2), or the listener stops."""
        if self._transport is not None:
            self._transport.close()

    async def deliver(self, message: dict[str, Any]) -> None:
        """Publish a platform message to the device, QoS 1: through its codec on command/binary when it listens
        there, else as JSON on command/json."""
        assert self.device is not None
        if self._binary_commands:
            topic, payload = topics.command_topic(self.device.topic_id, "binary"), self._codec().encode(message)
        else:
            topic, payload = topics.command_topic(self.device.topic_id), orjson.dumps(message)
        self._publish(topic, payload)

    async def push(self, body: bytes) -> None:
        """Publish a push to the application, QoS 1, and return once it acknowledged it (the dispatcher bounds
        the wait)."""
        assert self.app is not None
        if not self.app_listens:
            raise ConnectionError("the client does not listen on its notifications topic")
        packet_id = self._publish(topics.app_topic(self.app.app_id), body)
        if self._acks is None:
            self._acks = {}
        self._acks[packet_id] = acked = asyncio.get_running_loop().create_future()
        try:
            await acked
        finally:
            self._acks.pop(packet_id, None)

    def _publish(self, topic: str, payload: bytes) -> int:
        if self._write_paused_at is not None:
            raise ConnectionError("the client does not read what is sent to it")
        self._last_packet_id = self._last_packet_id % 0xFFFF + 1
        self._write(codec.encode(codec.Publish(topic, payload, qos=1, packet_id=self._last_packet_id)))
        return self._last_packet_id

    # The worker ----------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while self._ready:
                batch, self._ready = self._ready, []
                if self._write_paused_at is None:
                    self._resume_reading()
                await self._handle_batch(batch)
        except ConnectionError:
            self.close()
        except Exception:
            log.exception("closing %s after an unexpected error", self._peer())
            self.close()
        finally:
            self._worker = None
            if self._lost:
                self._ctx.ended(self)

    async def _handle_batch(self, batch: list[codec.Packet]) -> None:
        start = 0
        if self.device is None and self.app is None:
            first = batch[0]
            if not isinstance(first, codec.Connect):
                raise Closed  # §3.1.0-1: the first packet must be CONNECT
            await self._connect(first)
            start = 1
        if self.app is not None:
            for packet in batch[start:]:
                await self._handle(packet)
            return
        assert self.device is not None
        own_topics = topics.data_topics(self.device.topic_id)
        # The reports of a batch go to the writer together, and their PUBACKs leave in one write, in order, once
        # all of them are committed.
        accepted = _Accepted()
        for packet in batch[start:]:
            if not isinstance(packet, codec.Publish):
                await self._acknowledge(accepted)
                await self._handle(packet)
            elif packet.topic not in own_topics:
                log.warning("%s published on %s, not its own topic: dropped", self.device.device_id, packet.topic)
            else:
                self._accept(packet, accepted)
                if packet.packet_id is not None:
                    accepted.packet_ids.append(packet.packet_id)
        await self._acknowledge(accepted)

    async def _acknowledge(self, accepted: _Accepted) -> None:
        """Store the accepted reports and settle the answers, then PUBACK those at QoS 1 together; a failure closes
        the session before any of them is acknowledged."""
        assert self.device is not None
        if accepted.reports:
            accepted.waits.append(self._ctx.gateway.report(self.device, accepted.reports))
        for done in accepted.waits:
            await done
        acks = codec.encode_pubacks(accepted.packet_ids)
        accepted.clear()
        if acks:
            self._write(acks)

    async def _connect(self, packet: codec.Connect) -> None:
        request = ConnectRequest(packet.client_id, packet.username, packet.password)
        try:
            # A clientId not laid out as M1's is an application's (DECISIONS S5).
            if parse_client_id(packet.client_id) is None:
                self.app = await self._ctx.apps.authenticate_app(request)
            else:
                self.device = await self._ctx.gateway.authenticate(request)
        except ConnectRefused as refused:
            log.info("refusing %s (%s): %s", packet.client_id, self._peer(), refused)
            self._send(codec.ConnAck(return_code=refused.return_code))
            raise Closed from refused
        if self._lost:
            raise Closed
        self._keep_alive = packet.keep_alive * 1.5 if packet.keep_alive else None
        self._ctx.claim(self)
        # Recorded before the CONNACK: a client told it is connected holds the session on every node, so a
        # connection made after it, anywhere, is the newer one (DECISIONS M2).
        if self.device is not None:
            await self._ctx.gateway.connected(self.device)
        else:
            assert self.app is not None
            await self._ctx.apps.app_connected(self.app)
        self._send(codec.ConnAck(return_code=0))

    async def _handle(self, packet: codec.Packet) -> None:
        match packet:
            case codec.Subscribe():
                await self._subscribe(packet)
            case codec.Unsubscribe():
                if self.app is not None and topics.app_topic(self.app.app_id) in packet.topic_filters:
                    self.app_listens = False
                self._send(codec.UnsubAck(packet.packet_id))
            case codec.PingReq():
                self._send(codec.PingResp())
            case codec.Disconnect():
                raise Closed
            case codec.PubAck():
                # An application's acknowledgement settles its push; a device's answer comes as deviceRsp.
                acked = None if self._acks is None else self._acks.get(packet.packet_id)
                if acked is not None and not acked.done():
                    acked.set_result(None)
            case codec.Publish() if self.app is not None:
                log.warning("app %s published on %s: applications only receive, dropped", self.app.app_id, packet.topic)
            case _:
                raise Closed  # CONNECT twice (§3.1.0-2), or a packet only a server sends

    async def _subscribe(self, packet: codec.Subscribe) -> None:
        if self.app is not None:
            own = topics.app_topic(self.app.app_id)
            self._send(
                codec.SubAck(
                    packet.packet_id, tuple(min(q, 1) if t == own else SUBACK_FAILURE for t, q in packet.subscriptions)
                )
            )
            self.app_listens = self.app_listens or any(t == own for t, _ in packet.subscriptions)
            return
        assert self.device is not None
        allowed = topics.command_topics(self.device.topic_id)
        # QoS 2 is granted as 1 (DECISIONS M2); anything but the device's own command topics is refused.
        codes = tuple(min(qos, 1) if t in allowed else SUBACK_FAILURE for t, qos in packet.subscriptions)
        self._send(codec.SubAck(packet.packet_id, codes))
        granted = [t for t, _ in packet.subscriptions if t in allowed]
        if any(topics.codec_mode(t) == "binary" for t in granted):
            self._binary_commands = True
        if granted:
            await self._ctx.gateway.subscribed(self.device)

    def _accept(self, packet: codec.Publish, accepted: _Accepted) -> None:
        """Take a PUBLISH on the device's data topic: a report to store, or an answer for the gateway."""
        assert self.device is not None
        try:
            if topics.codec_mode(packet.topic) == "binary":
                message = self._codec().decode(packet.payload)
            else:
                message = parse_message(packet.payload)
            kind = message.get("msgType")
            if kind == "deviceRsp":
                mid, errcode, body = parse_answer(message)
                accepted.waits.append(asyncio.ensure_future(self._ctx.gateway.answer(self.device, mid, errcode, body)))
                return
            if kind != "deviceReq":
                raise InvalidReport(f"msgType {kind!r} is not handled")
            accepted.reports.append(parse_report(message))
        except (InvalidReport, ValueError) as exc:  # ValueError: a codec plug-in refused the bytes
            # Acknowledged all the same, so that the device does not send it again and again.
            self.invalid_reports += 1
            log.warning("invalid message from %s: %s", self.device.device_id, exc)

    def _codec(self) -> Codec:
        assert self.device is not None
        found = self._ctx.codecs.get(self.device.model_key)
        if found is None:  # DECISIONS M3: no codec, no binary
            raise InvalidReport(f"no codec plug-in for the product model {self.device.model_key!r}")
        return found

    # Transport -----------------------------------------------------------------------------------------------

    def _send(self, packet: codec.Packet) -> None:
        self._write(codec.encode(packet))

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise Closed
        transport.write(data)

    def _pause_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() and transport.is_reading():
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

    def _peer(self) -> str:
        return str(self._transport.get_extra_info("peername")) if self._transport is not None else "?"
