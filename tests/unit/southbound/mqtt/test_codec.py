"""The MQTT 3.1.1 codec: round trips, bytes laid out by hand from the spec, malformed input, fuzzing, paho."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotdm.southbound.mqtt import codec
from iotdm.southbound.mqtt.codec import (
    SUBACK_FAILURE,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Decoder,
    Disconnect,
    MalformedPacket,
    Packet,
    PacketTooLarge,
    PacketType,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocol,
    Will,
    encode,
    encode_pubacks,
)

MAX = 64 * 1024

EXAMPLES: list[Packet] = [
    Connect(
        "dev-1", 30, clean_session=False, will=Will("dev/1/will", b"\x00gone", 2, True), username="u", password=b"\xff"
    ),
    Connect(""),
    ConnAck(session_present=True, return_code=ConnectReturnCode.ACCEPTED),
    ConnAck(return_code=ConnectReturnCode.NOT_AUTHORIZED),
    Publish("devices/dev-1/data", b'{"msgType":"deviceReq"}'),
    Publish("tópico/ü/€", b"\x00" * 300, qos=1, retain=True, dup=True, packet_id=65535),
    Publish("a", qos=2, packet_id=1),
    PubAck(1),
    PubRec(2),
    PubRel(3),
    PubComp(4),
    Subscribe(5, (("devices/+/cmd", 1), ("#", 0), ("a/b", 2))),
    SubAck(5, (1, 0, SUBACK_FAILURE)),
    Unsubscribe(6, ("devices/+/cmd", "#")),
    UnsubAck(6),
    PingReq(),
    PingResp(),
    Disconnect(),
]


def decode_all(data: bytes, max_packet_size: int = MAX) -> list[Packet]:
    return Decoder(max_packet_size).feed(data)


# --- Round trips ------------------------------------------------------------------------------------------


def test_every_packet_type_has_an_example() -> None:
    assert {packet.TYPE for packet in EXAMPLES} == set(PacketType)


@pytest.mark.parametrize("packet", EXAMPLES, ids=lambda packet: type(packet).__name__)
def test_round_trip(packet: Packet) -> None:
    assert decode_all(encode(packet)) == [packet]


@pytest.mark.parametrize(
    "length, varint",
    # The boundaries of §2.2.3's table, one to four bytes.
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (268_435_455, "ffffff7f"),
    ],
)
def test_remaining_length_varint(length: int, varint: str) -> None:
    assert codec._encode_remaining_length(length) == bytes.fromhex(varint)
    assert codec._decode_remaining_length(bytes.fromhex("30" + varint), 1) == (length, 1 + len(varint) // 2)
    assert codec._decode_remaining_length(bytes.fromhex("30" + varint)[:-1], 1) is None  # still incomplete


def test_remaining_length_out_of_range() -> None:
    with pytest.raises(ValueError):
        codec._encode_remaining_length(268_435_456)


def test_remaining_length_of_several_bytes() -> None:
    for size in (127 - 5, 128 - 5, 16_383 - 5, 16_384 - 5, 2_097_152):
        packet = Publish("abc", b"x" * size)
        data = encode(packet)
        assert decode_all(data, max_packet_size=3_000_000) == [packet]
    assert encode(Publish("abc", b"x" * 2_097_152))[1:5] == b"\x85\x80\x80\x01"  # 2,097,157 as a 4-byte varint


def test_split_byte_by_byte() -> None:
    data = b"".join(encode(packet) for packet in EXAMPLES)
    decoder = Decoder(MAX)
    decoded = [packet for i in range(len(data)) for packet in decoder.feed(data[i : i + 1])]
    assert decoded == EXAMPLES


def test_split_at_every_position() -> None:
    data = encode(EXAMPLES[0]) + encode(EXAMPLES[4])
    for cut in range(len(data) + 1):
        decoder = Decoder(MAX)
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) == [EXAMPLES[0], EXAMPLES[4]]


def test_many_packets_in_one_feed() -> None:
    assert decode_all(b"".join(encode(packet) for packet in EXAMPLES * 3)) == EXAMPLES * 3


def test_empty_feed_and_partial_packet_return_nothing() -> None:
    decoder = Decoder(MAX)
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\x30") == []
    assert decoder.feed(b"\x05\x00\x01a") == []
    assert decoder.feed(b"hi" + b"\xc0") == [Publish("a", b"hi")]
    assert decoder.feed(b"\x00") == [PingReq()]


# --- Bytes laid out by hand from the spec -----------------------------------------------------------------


def test_connect_as_paho_sends_it() -> None:
    data = bytes.fromhex(
        "10 23"  # CONNECT, remaining length 35
        "0004 4d515454 04"  # protocol name "MQTT", level 4
        "c2 003c"  # flags: user name, password, clean session; keep alive 60 s
        "0005 6465762d31"  # client id "dev-1"
        "0008 6465766963652d31"  # user name "device-1"
        "0006 736563726574"  # password "secret"
    )
    assert decode_all(data) == [Connect("dev-1", 60, username="device-1", password=b"secret")]


def test_connect_with_the_flags_of_the_spec_example() -> None:
    # §3.1.2.10's example variable header: flags 0xCE = user name, password, will QoS 1, will, clean session.
    data = bytes.fromhex(
        "10 1f 0004 4d515454 04 ce 000a"  # CONNECT, remaining length 31
        "0001 63"  # client id "c"
        "0003 612f77 0004 676f6e65"  # will topic "a/w", will message "gone"
        "0001 75 0002 7077"  # user name "u", password "pw"
    )
    expected = Connect("c", 10, will=Will("a/w", b"gone", qos=1), username="u", password=b"pw")
    assert decode_all(data) == [expected]
    assert encode(expected) == data


def test_publish_qos0() -> None:
    data = bytes.fromhex("30 0a 0003 612f62 68656c6c6f")  # topic "a/b", payload "hello"
    assert decode_all(data) == [Publish("a/b", b"hello")]


def test_publish_qos1_with_dup_and_retain() -> None:
    # §3.3.2.3's example: topic "a/b", packet id 10; 0x3B = PUBLISH, DUP, QoS 1, RETAIN.
    data = bytes.fromhex("3b 09 0003 612f62 000a 6869")
    assert decode_all(data) == [Publish("a/b", b"hi", qos=1, retain=True, dup=True, packet_id=10)]


@given(st.lists(st.integers(min_value=1, max_value=0xFFFF), max_size=20))
def test_pubacks_in_one_buffer_are_the_encoded_pubacks(packet_ids: list[int]) -> None:
    assert encode_pubacks(packet_ids) == b"".join(encode(PubAck(packet_id)) for packet_id in packet_ids)


def test_fixed_layouts() -> None:
    assert encode(ConnAck(True, 0)) == b"\x20\x02\x01\x00"
    assert encode(PubAck(10)) == b"\x40\x02\x00\x0a"
    assert encode(PubRel(10)) == b"\x62\x02\x00\x0a"
    assert encode(SubAck(1, (0, 1, 2, 0x80))) == b"\x90\x06\x00\x01\x00\x01\x02\x80"
    assert encode(PingReq()) == b"\xc0\x00"
    assert encode(PingResp()) == b"\xd0\x00"
    assert encode(Disconnect()) == b"\xe0\x00"


# --- Malformed input --------------------------------------------------------------------------------------


def connect_bytes(flags: int, payload: bytes, name: bytes = b"MQTT", level: int = 4) -> bytes:
    body = len(name).to_bytes(2, "big") + name + bytes((level, flags)) + b"\x00\x3c" + payload
    return bytes((0x10, len(body))) + body


CLIENT_ID = b"\x00\x01c"

MALFORMED: dict[str, tuple[bytes, type[MalformedPacket]]] = {
    "remaining length of 5 bytes": (b"\x30\xff\xff\xff\xff\x7f", MalformedPacket),
    "reserved type 0": (b"\x00\x00", MalformedPacket),
    "reserved type 15": (b"\xf0\x00", MalformedPacket),
    "SUBSCRIBE flags 0": (b"\x80\x06\x00\x01\x00\x01a\x00", MalformedPacket),
    "UNSUBSCRIBE flags 0": (b"\xa0\x05\x00\x01\x00\x01a", MalformedPacket),
    "PUBREL flags 0": (b"\x60\x02\x00\x01", MalformedPacket),
    "PUBACK flags 2": (b"\x42\x02\x00\x01", MalformedPacket),
    "CONNECT flags 1": (b"\x11\x00", MalformedPacket),
    "PINGREQ flags 8": (b"\xc8\x00", MalformedPacket),
    "DISCONNECT flags 2": (b"\xe2\x00", MalformedPacket),
    "PUBLISH QoS 3": (b"\x36\x05\x00\x01a\x00\x01", MalformedPacket),
    "PUBLISH QoS 1 without packet id": (b"\x32\x03\x00\x01a", MalformedPacket),
    "PUBLISH QoS 2 packet id 0": (b"\x34\x05\x00\x01a\x00\x00", MalformedPacket),
    "PUBLISH invalid UTF-8": (b"\x30\x04\x00\x02\xc3\x28", MalformedPacket),
    "PUBLISH UTF-16 surrogate": (b"\x30\x05\x00\x03\xed\xa0\x80", MalformedPacket),
    "PUBLISH overlong UTF-8": (b"\x30\x04\x00\x02\xc0\xaf", MalformedPacket),
    "PUBLISH U+0000": (b"\x30\x03\x00\x01\x00", MalformedPacket),
    "PUBLISH topic with +": (b"\x30\x05\x00\x03a/+", MalformedPacket),
    "PUBLISH topic with #": (b"\x30\x05\x00\x03a/#", MalformedPacket),
    "PUBLISH empty topic": (b"\x30\x02\x00\x00", MalformedPacket),
    "PUBLISH topic longer than the packet": (b"\x30\x03\x00\x05a", MalformedPacket),
    "SUBSCRIBE without filters": (b"\x82\x02\x00\x01", MalformedPacket),
    "SUBSCRIBE QoS 3": (b"\x82\x06\x00\x01\x00\x01a\x03", MalformedPacket),
    "SUBSCRIBE reserved QoS bits": (b"\x82\x06\x00\x01\x00\x01a\x81", MalformedPacket),
    "SUBSCRIBE without QoS": (b"\x82\x05\x00\x01\x00\x01a", MalformedPacket),
    "SUBSCRIBE empty filter": (b"\x82\x05\x00\x01\x00\x00\x00", MalformedPacket),
    "SUBSCRIBE packet id 0": (b"\x82\x06\x00\x00\x00\x01a\x00", MalformedPacket),
    "SUBSCRIBE invalid UTF-8": (b"\x82\x06\x00\x01\x00\x01\xff\x00", MalformedPacket),
    "UNSUBSCRIBE without filters": (b"\xa2\x02\x00\x01", MalformedPacket),
    "PUBACK packet id 0": (b"\x40\x02\x00\x00", MalformedPacket),
    "PUBACK too short": (b"\x40\x01\x00", MalformedPacket),
    "CONNACK reserved flags": (b"\x20\x02\x02\x00", MalformedPacket),
    "SUBACK reserved code": (b"\x90\x03\x00\x01\x03", MalformedPacket),
    "CONNECT MQTT 3.1 (MQIsdp, 3)": (connect_bytes(0x02, CLIENT_ID, b"MQIsdp", 3), UnsupportedProtocol),
    "CONNECT level 5": (connect_bytes(0x02, CLIENT_ID + b"\x00", level=5), UnsupportedProtocol),
    "CONNECT level 3": (connect_bytes(0x02, CLIENT_ID, level=3), UnsupportedProtocol),
    "CONNECT name mqtt": (connect_bytes(0x02, CLIENT_ID, b"mqtt"), UnsupportedProtocol),
    "CONNECT reserved flag": (connect_bytes(0x03, CLIENT_ID), MalformedPacket),
    "CONNECT password without user name": (connect_bytes(0x42, CLIENT_ID + b"\x00\x01p"), MalformedPacket),
    "CONNECT will QoS 3": (connect_bytes(0x1E, CLIENT_ID + b"\x00\x01w\x00\x00"), MalformedPacket),
    "CONNECT will QoS without will": (connect_bytes(0x0A, CLIENT_ID), MalformedPacket),
    "CONNECT will retain without will": (connect_bytes(0x22, CLIENT_ID), MalformedPacket),
    "CONNECT will topic with #": (connect_bytes(0x06, CLIENT_ID + b"\x00\x01#\x00\x00"), MalformedPacket),
    "CONNECT client id not UTF-8": (connect_bytes(0x02, b"\x00\x01\xfe"), MalformedPacket),
    "CONNECT user name missing": (connect_bytes(0x82, CLIENT_ID), MalformedPacket),
    "CONNECT trailing byte": (connect_bytes(0x02, CLIENT_ID + b"\x00"), MalformedPacket),
    "PINGREQ trailing byte": (b"\xc0\x01\x00", MalformedPacket),
    "PUBACK trailing byte": (b"\x40\x03\x00\x01\x00", MalformedPacket),
    "UNSUBSCRIBE trailing byte": (b"\xa2\x06\x00\x01\x00\x01a\x00", MalformedPacket),
}


@pytest.mark.parametrize("data, error", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed(data: bytes, error: type[MalformedPacket]) -> None:
    with pytest.raises(error) as raised:
        decode_all(data)
    assert type(raised.value) is error  # UnsupportedProtocol must not pass for any other MalformedPacket


@pytest.mark.parametrize("data, error", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_byte_by_byte_after_a_good_packet(data: bytes, error: type[MalformedPacket]) -> None:
    decoder = Decoder(MAX)
    assert decoder.feed(encode(PingReq())) == [PingReq()]
    with pytest.raises(error):
        for i in range(len(data)):
            decoder.feed(data[i : i + 1])
    with pytest.raises(error):  # the stream cannot be resynchronised: it keeps failing
        decoder.feed(b"")


def test_malformed_is_a_value_error() -> None:
    assert issubclass(PacketTooLarge, MalformedPacket)
    assert issubclass(UnsupportedProtocol, MalformedPacket)
    assert issubclass(MalformedPacket, ValueError)


def test_too_large_is_refused_from_the_header_alone() -> None:
    decoder = Decoder(max_packet_size=10)
    assert decoder.feed(b"\x30") == []
    with pytest.raises(PacketTooLarge):
        decoder.feed(b"\x0b")  # remaining length 11: not a byte of the body has come
    with pytest.raises(PacketTooLarge):
        Decoder(1024 * 1024).feed(b"\x30\xff\xff\xff\x7f")  # announces 256 MiB


def test_max_packet_size_bounds_the_remaining_length() -> None:
    assert Decoder(max_packet_size=2).feed(encode(PubAck(1))) == [PubAck(1)]
    with pytest.raises(PacketTooLarge):
        Decoder(max_packet_size=1).feed(encode(PubAck(1)))


def test_packets_before_a_malformed_one_in_the_same_feed_are_not_returned() -> None:
    with pytest.raises(MalformedPacket):
        decode_all(encode(PingReq()) + b"\xf0\x00")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Publish("a", qos=3),
        lambda: Publish("a", qos=1),
        lambda: Publish("a", qos=0, packet_id=1),
        lambda: Publish("a/+"),
        lambda: Publish(""),
        lambda: PubAck(0),
        lambda: PubAck(65536),
        lambda: Subscribe(1, ()),
        lambda: Subscribe(1, (("a", 3),)),
        lambda: Unsubscribe(1, ()),
        lambda: SubAck(1, (3,)),
        lambda: Connect("c", password=b"p"),
        lambda: Connect("c", keep_alive=65536),
        lambda: Will("a", b"", qos=3),
        lambda: ConnAck(return_code=256),
    ],
)
def test_packets_that_break_the_spec_cannot_be_built(build: Callable[[], Packet | Will]) -> None:
    with pytest.raises(MalformedPacket):
        build()


def test_values_that_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        encode(Publish("a" * 65536))
    with pytest.raises(ValueError):
        encode(Connect("a\x00b"))


# --- Fuzzing ----------------------------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
topics = st.text(st.characters(codec="utf-8", exclude_characters="\x00+#"), min_size=1, max_size=20)
filters = texts.filter(bool)
qos = st.integers(0, 2)
packet_ids = st.integers(1, 65535)


@st.composite
def publishes(draw: st.DrawFn) -> Publish:
    level = draw(qos)
    packet_id = draw(packet_ids) if level else None
    return Publish(
        draw(topics), draw(st.binary(max_size=64)), level, draw(st.booleans()), draw(st.booleans()), packet_id
    )


def _connect(
    client_id: str, keep_alive: int, clean: bool, will: Will | None, username: str | None
) -> st.SearchStrategy[Connect]:
    passwords = st.none() if username is None else st.none() | st.binary(max_size=20)
    return passwords.map(lambda password: Connect(client_id, keep_alive, clean, will, username, password))


packets: st.SearchStrategy[Packet] = st.one_of(
    st.tuples(
        texts,
        st.integers(0, 65535),
        st.booleans(),
        st.none() | st.builds(Will, topics, st.binary(max_size=20), qos, st.booleans()),
        st.none() | texts,
    ).flatmap(lambda args: _connect(*args)),
    st.builds(ConnAck, st.booleans(), st.sampled_from(ConnectReturnCode)),
    publishes(),
    *(st.builds(cls, packet_ids) for cls in (PubAck, PubRec, PubRel, PubComp, UnsubAck)),
    st.builds(Subscribe, packet_ids, st.lists(st.tuples(filters, qos), min_size=1, max_size=4).map(tuple)),
    st.builds(
        SubAck, packet_ids, st.lists(st.sampled_from([0, 1, 2, SUBACK_FAILURE]), min_size=1, max_size=4).map(tuple)
    ),
    st.builds(Unsubscribe, packet_ids, st.lists(filters, min_size=1, max_size=4).map(tuple)),
    st.sampled_from([PingReq(), PingResp(), Disconnect()]),
)


def feed_in_chunks(data: bytes, sizes: list[int], max_packet_size: int = 256) -> list[Packet]:
    """Feeds ``data`` in chunks of ``sizes`` (the rest at once); only packets or MalformedPacket may come out."""
    decoder = Decoder(max_packet_size)
    decoded: list[Packet] = []
    pos = 0
    for size in [*sizes, len(data)]:
        decoded += decoder.feed(data[pos : pos + size])
        pos += size
    for packet in decoded:  # whatever the decoder accepts, the encoder can write and read back unchanged
        assert decode_all(encode(packet)) == [packet]
    return decoded


def outcome(data: bytes, sizes: list[int]) -> str | list[Packet]:
    try:
        return feed_in_chunks(data, sizes)
    except MalformedPacket as error:
        return f"{type(error).__name__}: {error}"


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(packets, min_size=1, max_size=5), st.lists(st.integers(1, 16), max_size=20))
def test_fuzz_round_trip_in_any_chunks(sent: list[Packet], sizes: list[int]) -> None:
    assert feed_in_chunks(b"".join(encode(packet) for packet in sent), sizes, MAX) == sent


@settings(max_examples=500, deadline=None, database=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 32), max_size=20))
def test_fuzz_random_bytes(data: bytes, sizes: list[int]) -> None:
    # However the bytes are split, the result (the packets, or the error) is the same.
    assert outcome(data, sizes) == outcome(data, [])


@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(packets, min_size=1, max_size=4), st.data())
def test_fuzz_mutated_packets(sent: list[Packet], data: st.DataObject) -> None:
    wire = bytearray(b"".join(encode(packet) for packet in sent))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(wire)))
        mutation = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        if mutation == "truncate":
            del wire[at:]
        elif mutation == "insert":
            wire[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif at < len(wire):
            if mutation == "flip":
                wire[at] ^= data.draw(st.integers(1, 255))
            else:
                del wire[at]
    sizes = data.draw(st.lists(st.integers(1, 16), max_size=10))
    assert outcome(bytes(wire), sizes) == outcome(bytes(wire), [])


# --- Interoperability with a real client (paho-mqtt 2, over a plain TCP socket on 127.0.0.1) ---------------


def answer_one_client(listener: socket.socket, received: list[Packet], errors: list[BaseException]) -> None:
    """Plays the server for one connection: CONNACK, then PUBACK; returns at DISCONNECT or EOF."""
    try:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5)
            decoder = Decoder(MAX)
            while data := connection.recv(4096):
                for packet in decoder.feed(data):
                    received.append(packet)
                    if isinstance(packet, Connect):
                        connection.sendall(encode(ConnAck()))
                    elif isinstance(packet, Publish) and packet.packet_id is not None:
                        connection.sendall(encode(PubAck(packet.packet_id)))
                    elif isinstance(packet, Disconnect):
                        return
    except BaseException as error:
        errors.append(error)


def test_interop_paho_connects_and_publishes_qos1() -> None:
    mqtt = pytest.importorskip("paho.mqtt.client")
    received: list[Packet] = []
    errors: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        server = threading.Thread(target=answer_one_client, args=(listener, received, errors), daemon=True)
        server.start()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-1", protocol=mqtt.MQTTv311)
        client.username_pw_set("device-1", "s3cret")
        connected = threading.Event()
        client.on_connect = lambda client, userdata, flags, reason_code, properties: connected.set()
        client.connect("127.0.0.1", listener.getsockname()[1], keepalive=30)
        client.loop_start()
        try:
            assert connected.wait(5)
            info = client.publish("devices/dev-1/data", b'{"temperature": 21.5}', qos=1)
            info.wait_for_publish(timeout=5)
            assert info.is_published()
            client.disconnect()
        finally:
            client.loop_stop()
        server.join(5)
    assert not server.is_alive()
    assert errors == []
    connect, publish, disconnect = received
    assert connect == Connect("dev-1", 30, clean_session=True, username="device-1", password=b"s3cret")
    assert isinstance(publish, Publish)
    assert (publish.topic, publish.payload, publish.qos, publish.retain) == (
        "devices/dev-1/data",
        b'{"temperature": 21.5}',
        1,
        False,
    )
    assert publish.packet_id == info.mid
    assert disconnect == Disconnect()
