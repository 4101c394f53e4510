"""Device-side helpers for tests: a raw MQTT client on our codec (exact CONNACK codes) and paho clients."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from iotdm.domain.device_auth import expected_password
from iotdm.southbound.mqtt import codec
from tests.harness import App, PlatformThread


def hour_stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y%m%d%H")


def credentials(
    device_ref: str, secret: str, *, auth_type: int = 0, sign_type: int = 1, stamp: str | None = None
) -> tuple[str, str, str]:
    """(clientId, username, password) as a device of chapter 8 computes them."""
    stamp = stamp or hour_stamp()
    return f"{device_ref}_{auth_type}_{sign_type}_{stamp}", device_ref, expected_password(secret, stamp)


def data_topic(topic_id: str, mode: str = "json") -> str:
    return f"/huawei/v1/devices/{topic_id}/data/{mode}"


def command_topic(topic_id: str, mode: str = "json") -> str:
    return f"/huawei/v1/devices/{topic_id}/command/{mode}"


class RawClient:
    """A minimal MQTT client speaking through our codec, for what paho hides (return codes, bad packets)."""

    def __init__(self, node: PlatformThread) -> None:
        assert node.platform is not None
        self.sock = socket.create_connection(("127.0.0.1", node.platform.mqtt_port), timeout=10)
        self.decoder = codec.Decoder(1 << 22)
        self.ready: list[codec.Packet] = []

    def send(self, packet: codec.Packet | bytes) -> None:
        self.sock.sendall(packet if isinstance(packet, bytes) else codec.encode(packet))

    def receive(self) -> codec.Packet | None:
        """The next packet, or None when the server closed the connection."""
        while not self.ready:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.ready.extend(self.decoder.feed(data))
        return self.ready.pop(0)

    def connect(self, client_id: str, username: str | None, password: str | bytes | None, keep_alive: int = 60) -> int:
        pw = password.encode() if isinstance(password, str) else password
        self.send(codec.Connect(client_id, keep_alive=keep_alive, username=username, password=pw))
        answer = self.receive()
        assert isinstance(answer, codec.ConnAck), answer
        return int(answer.return_code)

    def closed_by_server(self) -> bool:
        """Whether the server closes the connection before sending anything else, within the socket's timeout."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def listening(node: PlatformThread, device_id: str, secret: str) -> RawClient:
    """A device connected and subscribed to its command topic."""
    client = RawClient(node)
    assert client.connect(*credentials(device_id, secret)) == 0
    client.send(codec.Subscribe(1, ((command_topic(device_id), 1),)))
    assert client.receive() == codec.SubAck(1, (1,))
    return client


def desired_message(client: RawClient) -> dict[str, Any]:
    packet = client.receive()
    assert isinstance(packet, codec.Publish), packet
    assert packet.qos == 1
    client.send(codec.PubAck(packet.packet_id or 0))
    message: dict[str, Any] = json.loads(packet.payload)
    return message


class PahoDevice:
    """A real paho-mqtt client logged in as a device."""

    def __init__(self, node: PlatformThread, device_id: str, secret: str, **auth: Any) -> None:
        assert node.platform is not None
        client_id, username, password = credentials(device_id, secret, **auth)
        self.device_id = device_id
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.reason: Any = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", node.platform.mqtt_port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.reason = reason
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.disconnected.set()

    def report(self, services: list[dict[str, Any]], qos: int = 1) -> mqtt.MQTTMessageInfo:
        import json

        payload = json.dumps({"msgType": "deviceReq", "data": services})
        info = self.client.publish(data_topic(self.device_id), payload, qos=qos)
        if qos:
            info.wait_for_publish(10)
            assert info.is_published()
        return info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def mqtt_device(app: App) -> tuple[str, str, str]:
    """A registered MQTT device: (deviceId, nodeId, secret)."""
    from tests.harness import unique_node_id

    node_id = unique_node_id()
    done = app.register_v2(node_id)
    return done["deviceId"], node_id, done["secret"]
