"""codecMode binary (DECISIONS M3): reports and platform messages pass through the device's codec plug-in."""

from __future__ import annotations

import struct

from iotdm.southbound.mqtt import codec
from tests.device.devices import RawClient, command_topic, credentials, data_topic
from tests.device.test_mqtt import history
from tests.harness import App, PlatformThread, unique_node_id

# The example plug-in's product model (pyproject.toml, entry point group iotdm.codecs).
EXAMPLE_MODEL = {
    "manufacturerId": "iotdm",
    "manufacturerName": "iotdm-example",
    "deviceType": "TemperatureSensor",
    "model": "TS-1",
    "protocolType": "MQTT",
}


def test_binary_report_round_trip(node: PlatformThread, app: App) -> None:
    done = app.register_v2(unique_node_id(), **EXAMPLE_MODEL)
    device_id = done["deviceId"]
    client = RawClient(node)
    try:
        assert client.connect(*credentials(device_id, done["secret"])) == 0
        client.send(codec.Subscribe(1, ((command_topic(device_id, "binary"), 1),)))
        assert client.receive() == codec.SubAck(1, (1,))
        client.send(codec.Publish(data_topic(device_id, "binary"), struct.pack(">BhB", 0, 215, 40), qos=1, packet_id=1))
        assert client.receive() == codec.PubAck(1)
        [row] = history(app, device_id)
        assert row["serviceId"] == "Sensor" and row["data"] == {"temperature": 21.5, "humidity": 40}
        client.send(codec.Publish(data_topic(device_id, "binary"), b"\x07", qos=1, packet_id=2))
        assert client.receive() == codec.PubAck(2)  # refused by the codec: acknowledged, not stored
        assert len(history(app, device_id)) == 1

        # A platform message (here a shadow change) reaches the device through the codec on command/binary.
        body = {"serviceDesireds": [{"serviceId": "Sensor", "desired": {"interval": 60}}]}
        assert app.http.put(f"/iocm/app/shadow/v1.5.0/devices/{device_id}", json=body).status_code == 200
        packet = client.receive()
        assert isinstance(packet, codec.Publish)
        assert packet.topic == command_topic(device_id, "binary")
        kind, mid = struct.unpack(">BH", packet.payload[:3])
        assert kind == 1 and mid >= 1 and packet.payload[3:] == b"SET_DESIRED"
    finally:
        client.close()


def test_binary_without_a_codec_is_rejected(node: PlatformThread, app: App) -> None:
    done = app.register_v2(unique_node_id())
    client = RawClient(node)
    try:
        assert client.connect(*credentials(done["deviceId"], done["secret"])) == 0
        payload = struct.pack(">BhB", 0, 215, 40)
        client.send(codec.Publish(data_topic(done["deviceId"], "binary"), payload, qos=1, packet_id=1))
        assert client.receive() == codec.PubAck(1)
        assert history(app, done["deviceId"]) == []
    finally:
        client.close()
