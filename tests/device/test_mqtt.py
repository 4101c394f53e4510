"""Devices over MQTT (chapter 8, DECISIONS M1-M2, D2, D5, S4) with real clients against the real platform."""

from __future__ import annotations

import os
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from iotdm.southbound.mqtt import codec
from tests.device.devices import (
    PahoDevice,
    RawClient,
    command_topic,
    credentials,
    data_topic,
    hour_stamp,
    mqtt_device,
)
from tests.harness import App, PlatformThread, wait_until
from tests.receiver import Inbox

DEVICES = "/iocm/app/dm/v1.4.0/devices"
HISTORY = "/iocm/app/data/v1.2.0/deviceDataHistory"


def device(app: App, device_id: str) -> dict[str, Any]:
    r = app.http.get(f"{DEVICES}/{device_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def history(app: App, device_id: str) -> list[dict[str, Any]]:
    r = app.http.get(HISTORY, params={"deviceId": device_id, "pageSize": 2000})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["deviceDataHistoryDTOs"]
    return rows


def subscribed(app: App) -> Inbox:
    """The app subscribed to the notifyTypes a device's connection and reports cause."""
    return Inbox(app, "bindDevice", "deviceInfoChanged", "deviceDataChanged", "deviceDatasChanged")


def events(inbox: Inbox, device_id: str) -> list[dict[str, Any]]:
    """The device's pushes once everything so far is delivered; in order within each notifyType."""
    return [p for p in inbox.settled() if p["deviceId"] == device_id]


def connack(node: PlatformThread, client_id: str, username: str | None, password: str | bytes | None) -> int:
    client = RawClient(node)
    try:
        return client.connect(client_id, username, password)
    finally:
        client.close()


# Authentication (M1) ------------------------------------------------------------------------------------------


def test_auth_matrix(node: PlatformThread, app: App) -> None:
    device_id, node_id, secret = mqtt_device(app)
    good = credentials(device_id, secret)
    assert connack(node, *good) == 0
    assert connack(node, *credentials(device_id, secret, sign_type=0, stamp="2001010100")) == 0
    assert connack(node, *credentials(node_id, secret, auth_type=2)) == 0
    assert connack(node, good[0], good[1], credentials(device_id, "wrong")[2]) == 4
    assert connack(node, good[0], good[1], good[2].upper()) == 0  # hex compared case-insensitively
    stale = hour_stamp(datetime.now(UTC) - timedelta(hours=3))
    assert connack(node, *credentials(device_id, secret, stamp=stale)) == 4
    for malformed in (device_id, f"{device_id}_0_1", f"{device_id}_3_1_{hour_stamp()}", f"{device_id}_0_1_20011301"):
        assert connack(node, malformed, device_id, good[2]) == 2, malformed
    assert connack(node, *credentials("no-such-device", secret)) == 5
    assert connack(node, *credentials(device_id, secret, auth_type=1)) == 5
    assert connack(node, good[0], "someone-else", good[2]) == 4
    assert connack(node, good[0], good[1], None) == 4


def test_deleted_and_frozen_devices_are_refused(node: PlatformThread, app: App) -> None:
    frozen_id, _, frozen_secret = mqtt_device(app)
    assert app.http.put(f"{DEVICES}/{frozen_id}", json={"mute": "TRUE"}).status_code == 204
    assert connack(node, *credentials(frozen_id, frozen_secret)) == 5
    deleted_id, _, deleted_secret = mqtt_device(app)
    assert app.http.delete(f"{DEVICES}/{deleted_id}").status_code == 204
    assert connack(node, *credentials(deleted_id, deleted_secret)) == 5


def test_verify_code_device_without_secret_is_refused(node: PlatformThread, app: App) -> None:
    device_id = app.register()["deviceId"]
    assert connack(node, *credentials(device_id, "anything")) == 4


def test_unsupported_protocol_level(node: PlatformThread) -> None:
    client = RawClient(node)
    try:
        # MQTT 3.1 ("MQIsdp", level 3): CONNACK 1, then the connection is closed.
        body = b"\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x"
        client.send(bytes([0x10, len(body)]) + body)
        answer = client.receive()
        assert isinstance(answer, codec.ConnAck) and answer.return_code == 1
        assert client.receive() is None
    finally:
        client.close()


# Reports ------------------------------------------------------------------------------------------------------


def test_report_is_queryable_and_evented(node: PlatformThread, app: App) -> None:
    inbox = subscribed(app)
    device_id, _, secret = mqtt_device(app)
    paho = PahoDevice(node, device_id, secret)
    try:
        assert wait_until(lambda: device(app, device_id)["deviceInfo"]["status"] == "ONLINE")
        paho.report(
            [
                {"serviceId": "Battery", "serviceData": {"batteryLevel": 75}, "eventTime": "20161219T114920Z"},
                {"serviceId": "Temp", "serviceData": {"t": 21.5}},
            ]
        )
        # PUBACK came after the commit: the data is there at once.
        services = {s["serviceId"]: s for s in device(app, device_id)["services"]}
        assert services["Battery"]["data"] == {"batteryLevel": 75}
        assert services["Battery"]["serviceType"] == "Battery"  # no product model: the serviceId stands in
        assert services["Battery"]["eventTime"] == "20161219T114920Z"
        assert services["Temp"]["data"] == {"t": 21.5}
        rows = history(app, device_id)
        assert {(r["serviceId"], r["timestamp"]) for r in rows} >= {("Battery", "20161219T114920Z")}
        assert len(rows) == 2
        paho.report([{"serviceId": "Battery", "serviceData": {"charging": True}}])
        latest = {s["serviceId"]: s for s in device(app, device_id)["services"]}["Battery"]
        assert latest["data"] == {"batteryLevel": 75, "charging": True}
        kinds = [e["notifyType"] for e in events(inbox, device_id)]
        assert kinds.count("bindDevice") == 1
        assert kinds.count("deviceDataChanged") == 3
        assert kinds.count("deviceDatasChanged") == 2
        datas = next(e for e in events(inbox, device_id) if e["notifyType"] == "deviceDatasChanged")
        assert [s["serviceId"] for s in datas["services"]] == ["Battery", "Temp"]
        assert datas["gatewayId"] == device_id and datas["requestId"]
    finally:
        paho.close()


def test_first_connection_activates_and_disconnect_goes_offline(node: PlatformThread, app: App) -> None:
    inbox = subscribed(app)
    device_id, _, secret = mqtt_device(app)
    assert device(app, device_id)["deviceInfo"]["status"] == "INACTIVE"
    paho = PahoDevice(node, device_id, secret)
    assert wait_until(lambda: device(app, device_id)["deviceInfo"]["status"] == "ONLINE")
    activation = app.http.get(f"/iocm/app/reg/v1.1.0/deviceCredentials/{device_id}").json()
    assert activation["activated"] is True
    bind = [e for e in events(inbox, device_id) if e["notifyType"] == "bindDevice"]
    assert [b["resultCode"] for b in bind] == ["succeeded"]
    paho.close()
    assert wait_until(lambda: device(app, device_id)["deviceInfo"]["status"] == "OFFLINE")
    second = PahoDevice(node, device_id, secret)
    second.close()
    assert [e["resultCode"] for e in events(inbox, device_id) if e["notifyType"] == "bindDevice"] == ["succeeded"]


def test_qos0_report_is_stored(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    paho = PahoDevice(node, device_id, secret)
    try:
        paho.report([{"serviceId": "S", "serviceData": {"v": 1}}], qos=0)
        assert wait_until(lambda: len(history(app, device_id)) == 1)
    finally:
        paho.close()


def test_invalid_reports_are_acknowledged_and_not_stored(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    client = RawClient(node)
    try:
        assert client.connect(*credentials(device_id, secret)) == 0
        bad = [
            b"not json",
            b"[1]",
            b'{"msgType":"deviceReq","data":[]}',
            b'{"msgType":"deviceReq","data":[{"serviceId":"S"}]}',
            b'{"msgType":"deviceReq","data":[{"serviceId":"","serviceData":{}}]}',
            b'{"msgType":"other"}',
        ]
        for packet_id, payload in enumerate(bad, start=1):
            client.send(codec.Publish(data_topic(device_id), payload, qos=1, packet_id=packet_id))
            assert client.receive() == codec.PubAck(packet_id)
        good = b'{"msgType":"deviceReq","data":[{"serviceId":"S","serviceData":{"ok":1},"eventTime":"junk"}]}'
        client.send(codec.Publish(data_topic(device_id), good, qos=1, packet_id=99))
        assert client.receive() == codec.PubAck(99)
        rows = history(app, device_id)
        assert [r["data"] for r in rows] == [{"ok": 1}]  # an invalid eventTime means the receive time
    finally:
        client.close()


# Topic ACL (M2) -----------------------------------------------------------------------------------------------


def test_topic_acl(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    other_id, _, _ = mqtt_device(app)
    client = RawClient(node)
    try:
        assert client.connect(*credentials(device_id, secret)) == 0
        client.send(codec.Subscribe(1, ((command_topic(device_id), 2), (command_topic(other_id), 1), ("#", 0))))
        assert client.receive() == codec.SubAck(1, (1, 0x80, 0x80))
        report = b'{"msgType":"deviceReq","data":[{"serviceId":"S","serviceData":{"x":1}}]}'
        client.send(codec.Publish(data_topic(other_id), report, qos=1, packet_id=5))
        client.send(codec.PingReq())
        assert client.receive() == codec.PingResp()  # the foreign PUBLISH was dropped, not acknowledged
        assert history(app, other_id) == []
    finally:
        client.close()


# Sessions -----------------------------------------------------------------------------------------------------


def test_newer_connection_replaces_the_older(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    first = RawClient(node)
    second = RawClient(node)
    try:
        assert first.connect(*credentials(device_id, secret)) == 0
        assert second.connect(*credentials(device_id, secret)) == 0
        assert first.closed_by_server()
        second.send(codec.PingReq())
        assert second.receive() == codec.PingResp()
        time.sleep(0.2)
        assert device(app, device_id)["deviceInfo"]["status"] == "ONLINE"
    finally:
        first.close()
        second.close()


def test_keep_alive_expiry_goes_offline(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    client = RawClient(node)
    try:
        started = time.monotonic()
        assert client.connect(*credentials(device_id, secret), keep_alive=1) == 0
        assert client.closed_by_server()
        assert 1.0 <= time.monotonic() - started < 5
        assert wait_until(lambda: device(app, device_id)["deviceInfo"]["status"] == "OFFLINE")
    finally:
        client.close()


def test_garbage_never_disturbs_a_well_behaved_device(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    paho = PahoDevice(node, device_id, secret)
    rng = random.Random(7)
    valid = codec.encode(codec.Connect("x_0_0_2020010100", username="x", password=b"y"))
    try:
        assert node.platform is not None
        for round_ in range(60):
            with socket.create_connection(("127.0.0.1", node.platform.mqtt_port), timeout=5) as raw:
                if round_ % 3 == 0:
                    raw.sendall(os.urandom(rng.randint(1, 300)))
                elif round_ % 3 == 1:
                    raw.sendall(valid[: rng.randint(1, len(valid) - 1)])
                else:
                    mutated = bytearray(valid)
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                    raw.sendall(bytes(mutated))
            paho.report([{"serviceId": "S", "serviceData": {"round": round_}}])
        assert len(history(app, device_id)) == 60
    finally:
        paho.close()


def test_oversized_packet_closes_only_that_connection(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    client = RawClient(node)
    try:
        assert client.connect(*credentials(device_id, secret)) == 0
        assert node.platform is not None
        too_big = node.settings.mqtt_max_packet_size + 1
        # Only the header: the server refuses on the declared length, without waiting for the body.
        header = bytes([0x30]) + codec._encode_remaining_length(too_big)
        client.send(header)
        assert client.closed_by_server()
    finally:
        client.close()
