"""MQTT 3.1.1 packets to bytes and back: a pure codec (no asyncio, no I/O, no logging).

Why our own: the platform is not a general broker (devices talk only to the platform, ACL per device, PUBACK
only after commit) and no maintained MQTT 3.1.1 codec library exists. Pure, it stays small and can be fuzzed.

Each packet type is a frozen dataclass whose ``__post_init__`` checks what the spec asks of the packet itself
(QoS, packet ids, topics, CONNECT flag combinations), decoded or built by hand alike. ``Decoder`` adds what only
bytes can get wrong: fixed-header flags, lengths, UTF-8, leftovers. Every violation raises ``MalformedPacket``,
answered by closing the connection (§4.8); ``UnsupportedProtocol`` first gets CONNACK 1 (§3.1.2.2).
§ numbers are sections of the OASIS MQTT 3.1.1 standard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeAlias, TypeVar


class MalformedPacket(ValueError):
    """The bytes, or a packet built by hand, break MQTT 3.1.1; a server closes the connection (§4.8)."""


class PacketTooLarge(MalformedPacket):
    """The fixed header announces a remaining length above the decoder's ``max_packet_size``."""


class UnsupportedProtocol(MalformedPacket):
    """CONNECT for a protocol other than MQTT 3.1.1: answer CONNACK 1, then close (§3.1.2.2)."""


class PacketType(IntEnum):
    """The high nibble of the first byte (§2.2.1); 0 and 15 are reserved."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ConnectReturnCode(IntEnum):
    """CONNACK return codes (§3.2.2.3); 6-255 are reserved."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


SUBACK_FAILURE = 0x80
"""The SUBACK return code for a refused subscription; the others are the granted QoS 0, 1 or 2."""

_PROTOCOL_NAME = "MQTT"
_PROTOCOL_LEVEL = 4
_MAX_REMAINING_LENGTH = 268_435_455  # what four 7-bit varint bytes hold (§2.2.3)

# The low nibble of the first byte is fixed for every type but PUBLISH, where it holds dup, QoS and retain (§2.2.2).
_FIXED_FLAGS: dict[int, int] = {
    kind: 0b0010 if kind in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE) else 0
    for kind in PacketType
    if kind is not PacketType.PUBLISH
}


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise MalformedPacket(reason)


def _check_qos(qos: int, what: str) -> None:
    _check(qos in (0, 1, 2), f"{what} {qos} is not 0, 1 or 2")


def _check_packet_id(packet_id: int) -> None:
    # Zero is not a packet id: QoS > 0 PUBLISH, SUBSCRIBE and UNSUBSCRIBE need a non-zero one (§2.3.1).
    _check(0 < packet_id <= 0xFFFF, f"packet id {packet_id} is not 1..65535")


def _check_topic_name(topic: str) -> None:
    # Unlike filters, topic names are what is published to: never empty, never a wildcard (§4.7.1, §4.7.3).
    _check(topic != "", "empty topic name")
    _check("+" not in topic and "#" not in topic, f"wildcard in topic name {topic!r}")


# --- Packets ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Will:
    """What the server publishes for a client that goes away without DISCONNECT (part of CONNECT)."""

    topic: str
    message: bytes
    qos: int = 0
    retain: bool = False

    def __post_init__(self) -> None:
        _check_topic_name(self.topic)
        _check_qos(self.qos, "will QoS")


@dataclass(frozen=True, slots=True)
class Connect:
    """Always MQTT level 4; the will, user name and password flags are set exactly when the field is not None."""

    TYPE: ClassVar[PacketType] = PacketType.CONNECT
    client_id: str
    keep_alive: int = 60
    clean_session: bool = True
    will: Will | None = None
    username: str | None = None
    password: bytes | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.keep_alive <= 0xFFFF, f"keep alive {self.keep_alive} is not 0..65535")
        _check(self.password is None or self.username is not None, "password without user name")  # §3.1.2.9


@dataclass(frozen=True, slots=True)
class ConnAck:
    TYPE: ClassVar[PacketType] = PacketType.CONNACK
    session_present: bool = False
    return_code: int = ConnectReturnCode.ACCEPTED

    def __post_init__(self) -> None:
        _check(0 <= self.return_code <= 0xFF, f"CONNACK return code {self.return_code} is not a byte")


@dataclass(frozen=True, slots=True)
class Publish:
    """``packet_id`` is None exactly when ``qos`` is 0."""

    TYPE: ClassVar[PacketType] = PacketType.PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None

    def __post_init__(self) -> None:
        _check_topic_name(self.topic)
        _check_qos(self.qos, "PUBLISH QoS")
        if self.qos == 0:
            _check(self.packet_id is None, "packet id in a QoS 0 PUBLISH")
        elif self.packet_id is None:
            raise MalformedPacket(f"QoS {self.qos} PUBLISH without packet id")
        else:
            _check_packet_id(self.packet_id)


@dataclass(frozen=True, slots=True)
class _PacketIdOnly:
    TYPE: ClassVar[PacketType]
    packet_id: int

    def __post_init__(self) -> None:
        _check_packet_id(self.packet_id)


@dataclass(frozen=True, slots=True)
class PubAck(_PacketIdOnly):
    """QoS 1 PUBLISH received (by the server: and committed)."""

    TYPE = PacketType.PUBACK


@dataclass(frozen=True, slots=True)
class PubRec(_PacketIdOnly):
    TYPE = PacketType.PUBREC


@dataclass(frozen=True, slots=True)
class PubRel(_PacketIdOnly):
    TYPE = PacketType.PUBREL


@dataclass(frozen=True, slots=True)
class PubComp(_PacketIdOnly):
    TYPE = PacketType.PUBCOMP


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``subscriptions`` holds (topic filter, requested QoS) pairs; filter syntax is for the session to judge."""

    TYPE: ClassVar[PacketType] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        _check_packet_id(self.packet_id)
        _check(len(self.subscriptions) > 0, "SUBSCRIBE without topic filters")  # §3.8.3
        for topic_filter, qos in self.subscriptions:
            _check(topic_filter != "", "empty topic filter")
            # The requested QoS byte's upper six bits are reserved, so any value above 2 is malformed (§3.8.3.1).
            _check_qos(qos, "requested QoS")


@dataclass(frozen=True, slots=True)
class SubAck:
    """One return code per filter of the SUBSCRIBE, in its order: the granted QoS or ``SUBACK_FAILURE``."""

    TYPE: ClassVar[PacketType] = PacketType.SUBACK
    packet_id: int
    return_codes: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_packet_id(self.packet_id)
        _check(len(self.return_codes) > 0, "SUBACK without return codes")
        for code in self.return_codes:
            _check(code in (0, 1, 2, SUBACK_FAILURE), f"SUBACK return code {code:#04x}")


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    TYPE: ClassVar[PacketType] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_packet_id(self.packet_id)
        _check(len(self.topic_filters) > 0, "UNSUBSCRIBE without topic filters")  # §3.10.3
        _check("" not in self.topic_filters, "empty topic filter")


@dataclass(frozen=True, slots=True)
class UnsubAck(_PacketIdOnly):
    TYPE = PacketType.UNSUBACK


@dataclass(frozen=True, slots=True)
class _Empty:
    TYPE: ClassVar[PacketType]


@dataclass(frozen=True, slots=True)
class PingReq(_Empty):
    TYPE = PacketType.PINGREQ


@dataclass(frozen=True, slots=True)
class PingResp(_Empty):
    TYPE = PacketType.PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect(_Empty):
    TYPE = PacketType.DISCONNECT


_Ack: TypeAlias = PubAck | PubRec | PubRel | PubComp | UnsubAck
Packet: TypeAlias = (
    Connect | ConnAck | Publish | Subscribe | SubAck | Unsubscribe | _Ack | PingReq | PingResp | Disconnect
)


# --- Encoding ---------------------------------------------------------------------------------------------


def _encode_remaining_length(length: int) -> bytes:
    """The varint of §2.2.3: seven bits per byte, least significant first, high bit = more bytes follow."""
    if not 0 <= length <= _MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {length} is not 0..{_MAX_REMAINING_LENGTH}")
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit in two bytes")
    return value.to_bytes(2, "big")


def _binary(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _string(text: str) -> bytes:
    """An MQTT string (§1.5.3): two-byte length, then UTF-8 without U+0000."""
    if "\x00" in text:
        raise ValueError(f"U+0000 in string {text!r}")
    return _binary(text.encode("utf-8"))


def _encode_connect(packet: Connect) -> bytes:
    bits = 0x02 if packet.clean_session else 0
    payload = _string(packet.client_id)
    if (will := packet.will) is not None:
        bits |= 0x04 | will.qos << 3 | (0x20 if will.retain else 0)
        payload += _string(will.topic) + _binary(will.message)
    if packet.username is not None:
        bits |= 0x80
        payload += _string(packet.username)
    if packet.password is not None:
        bits |= 0x40
        payload += _binary(packet.password)
    return _string(_PROTOCOL_NAME) + bytes((_PROTOCOL_LEVEL, bits)) + _u16(packet.keep_alive) + payload


def _encode_publish(packet: Publish) -> bytes:
    packet_id = b"" if packet.packet_id is None else _u16(packet.packet_id)
    return _string(packet.topic) + packet_id + packet.payload


_ENCODERS: dict[PacketType, Callable[[Any], bytes]] = {
    PacketType.CONNECT: _encode_connect,
    PacketType.CONNACK: lambda p: bytes((int(p.session_present), p.return_code)),
    PacketType.PUBLISH: _encode_publish,
    PacketType.PUBACK: lambda p: _u16(p.packet_id),
    PacketType.PUBREC: lambda p: _u16(p.packet_id),
    PacketType.PUBREL: lambda p: _u16(p.packet_id),
    PacketType.PUBCOMP: lambda p: _u16(p.packet_id),
    PacketType.SUBSCRIBE: lambda p: _u16(p.packet_id) + b"".join(_string(f) + bytes((q,)) for f, q in p.subscriptions),
    PacketType.SUBACK: lambda p: _u16(p.packet_id) + bytes(p.return_codes),
    PacketType.UNSUBSCRIBE: lambda p: _u16(p.packet_id) + b"".join(_string(f) for f in p.topic_filters),
    PacketType.UNSUBACK: lambda p: _u16(p.packet_id),
    PacketType.PINGREQ: lambda p: b"",
    PacketType.PINGRESP: lambda p: b"",
    PacketType.DISCONNECT: lambda p: b"",
}


def encode(packet: Packet) -> bytes:
    """The packet's bytes; ValueError when a value cannot be encoded (a string over 65,535 bytes, say)."""
    kind = packet.TYPE
    flags = (packet.dup << 3 | packet.qos << 1 | packet.retain) if isinstance(packet, Publish) else _FIXED_FLAGS[kind]
    body = _ENCODERS[kind](packet)
    return bytes((kind << 4 | flags,)) + _encode_remaining_length(len(body)) + body


def encode_pubacks(packet_ids: Iterable[int]) -> bytes:
    """The PUBACKs of ``packet_ids`` in one buffer, as ``encode(PubAck(id))`` each gives them: the server's hot
    path, so without a packet object per acknowledgement."""
    head = bytes((PacketType.PUBACK << 4, 2))
    return b"".join(head + packet_id.to_bytes(2, "big") for packet_id in packet_ids)


# --- Decoding ---------------------------------------------------------------------------------------------


def _decode_remaining_length(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(length, position after the varint) of the varint at ``pos``; None while its bytes are still to come."""
    length = 0
    for i in range(4):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        length |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return length, pos + i + 1
    raise MalformedPacket("remaining length longer than 4 bytes")


def _check_first_byte(first: int) -> None:
    kind, flags = first >> 4, first & 0x0F
    _check(kind in _DECODERS, f"reserved packet type {kind}")
    if kind == PacketType.PUBLISH:
        _check(flags & 0b0110 != 0b0110, "PUBLISH QoS 3")
    else:
        _check(flags == _FIXED_FLAGS[kind], f"{PacketType(kind).name} with fixed-header flags {flags:#06b}")


_T = TypeVar("_T")


class _Reader:
    """The fields of one packet's body; reading past its end makes the packet malformed."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def at_end(self) -> bool:
        return self._pos == len(self._data)

    def take(self, count: int) -> bytes:
        end = self._pos + count
        _check(end <= len(self._data), "packet shorter than its fields")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._pos)

    def repeat(self, read: Callable[[], _T]) -> tuple[_T, ...]:
        """``read()`` again and again up to the end of the packet (the lists of SUBSCRIBE and UNSUBSCRIBE)."""
        items = []
        while not self.at_end:
            items.append(read())
        return tuple(items)

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        try:
            # Python's strict decoder also refuses the UTF-16 surrogates and overlong forms §1.5.3 forbids.
            text = self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("string is not valid UTF-8") from None
        _check("\x00" not in text, "U+0000 in a string")
        return text


def _decode_connect(flags: int, reader: _Reader) -> Connect:
    name, level = reader.string(), reader.u8()
    # Checked before anything else: later fields differ between protocol versions (MQTT 5 adds properties).
    if name != _PROTOCOL_NAME or level != _PROTOCOL_LEVEL:
        raise UnsupportedProtocol(f"protocol {name!r} level {level}, not MQTT 3.1.1")
    bits = reader.u8()
    _check(not bits & 0x01, "reserved CONNECT flag set")  # §3.1.2.3
    keep_alive, client_id = reader.u16(), reader.string()
    will = None
    if bits & 0x04:
        will = Will(reader.string(), reader.binary(), qos=bits >> 3 & 3, retain=bool(bits & 0x20))
    else:
        _check(not bits & 0x38, "will QoS or retain without will flag")  # §3.1.2.6, §3.1.2.7
    username = reader.string() if bits & 0x80 else None
    password = reader.binary() if bits & 0x40 else None
    return Connect(
        client_id, keep_alive, clean_session=bool(bits & 0x02), will=will, username=username, password=password
    )


def _decode_connack(flags: int, reader: _Reader) -> ConnAck:
    ack_flags = reader.u8()
    _check(ack_flags in (0, 1), f"reserved CONNACK flags {ack_flags:#04x}")
    return ConnAck(bool(ack_flags), reader.u8())


def _decode_publish(flags: int, reader: _Reader) -> Publish:
    qos = flags >> 1 & 3
    topic = reader.string()
    packet_id = reader.u16() if qos else None
    return Publish(topic, reader.rest(), qos, retain=bool(flags & 1), dup=bool(flags & 8), packet_id=packet_id)


# Keyed by the high nibble of the first byte; each gets the low nibble and a reader of the body (§2.2).
# Arguments are evaluated left to right, so each lambda reads the fields in their order on the wire.
_DECODERS: dict[int, Callable[[int, _Reader], Packet]] = {
    PacketType.CONNECT: _decode_connect,
    PacketType.CONNACK: _decode_connack,
    PacketType.PUBLISH: _decode_publish,
    PacketType.PUBACK: lambda flags, r: PubAck(r.u16()),
    PacketType.PUBREC: lambda flags, r: PubRec(r.u16()),
    PacketType.PUBREL: lambda flags, r: PubRel(r.u16()),
    PacketType.PUBCOMP: lambda flags, r: PubComp(r.u16()),
    PacketType.SUBSCRIBE: lambda flags, r: Subscribe(r.u16(), r.repeat(lambda: (r.string(), r.u8()))),
    PacketType.SUBACK: lambda flags, r: SubAck(r.u16(), tuple(r.rest())),
    PacketType.UNSUBSCRIBE: lambda flags, r: Unsubscribe(r.u16(), r.repeat(r.string)),
    PacketType.UNSUBACK: lambda flags, r: UnsubAck(r.u16()),
    PacketType.PINGREQ: lambda flags, r: PingReq(),
    PacketType.PINGRESP: lambda flags, r: PingResp(),
    PacketType.DISCONNECT: lambda flags, r: Disconnect(),
}


class Decoder:
    """Packets from a byte stream, however it is split into ``feed`` calls.

    It decodes every packet type, including those only a server sends; which ones a peer may send is for
    the session to judge. After ``MalformedPacket`` the stream cannot be resynchronised: every later ``feed``
    raises again, and the connection should be closed.
    """

    def __init__(self, max_packet_size: int) -> None:
        """``max_packet_size`` bounds a packet's remaining length (its size after the fixed header)."""
        self.max_packet_size = max_packet_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        """Every packet that ``data`` completes, in order; a partial packet waits for the next call."""
        buffer = self._buffer
        buffer += data
        packets: list[Packet] = []
        start = 0  # consumed bytes are dropped once per call, not once per packet
        while start < len(buffer):
            # Type and flags are judged from the first byte and the size from the header, before the body comes.
            first = buffer[start]
            _check_first_byte(first)
            header = _decode_remaining_length(buffer, start + 1)
            if header is None:
                break
            length, body_start = header
            if length > self.max_packet_size:
                raise PacketTooLarge(f"remaining length {length} exceeds {self.max_packet_size}")
            end = body_start + length
            if end > len(buffer):
                break
            reader = _Reader(bytes(buffer[body_start:end]))
            packets.append(_DECODERS[first >> 4](first & 0x0F, reader))
            _check(reader.at_end, "bytes left over after the packet's fields")
            start = end
        del buffer[:start]
        return packets
