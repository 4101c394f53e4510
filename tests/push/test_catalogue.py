"""Every push with a trigger today arrives at its subscriber as §1.6.7 describes it, field by field: POSTed as
JSON to the callbackUrl after the change that caused it (DECISIONS S3, S4, D1, D2, D4, D6)."""

from __future__ import annotations

import json
import re
from typing import Any

from iotdm.southbound.mqtt import codec
from tests.device.devices import PahoDevice, RawClient, data_topic, listening, mqtt_device
from tests.harness import App, PlatformThread, unique_node_id
from tests.profiles import import_profile, key_of, new_profile
from tests.receiver import Inbox, shared

DEVICES = "/iocm/app/dm/v1.4.0/devices"
SHADOW = "/iocm/app/shadow/v1.5.0/devices"
TIME = re.compile(r"^\d{8}T\d{6}Z$")

# DeviceInfo of §1.6.7.1 (L2827-2856), shared by deviceAdded, bindDevice and deviceInfoChanged.
DEVICE_INFO_KEYS = (
    "nodeId",
    "name",
    "description",
    "manufacturerId",
    "manufacturerName",
    "mac",
    "location",
    "deviceType",
    "model",
    "swVersion",
    "fwVersion",
    "hwVersion",
    "protocolType",
    "bridgeId",
    "status",
    "statusDetail",
    "mute",
    "supportedSecurity",
    "isSecurity",
    "signalStrength",
    "sigVersion",
    "serialNumber",
    "batteryLevel",
)


def device_info(**known: Any) -> dict[str, Any]:
    """A DeviceInfo: every documented key, null where nothing is known (G3)."""
    assert set(known) <= set(DEVICE_INFO_KEYS)
    return {**dict.fromkeys(DEVICE_INFO_KEYS), "mute": "FALSE", "isSecurity": "FALSE", **known}


def answer_desired(client: RawClient, device_id: str, errcode: int) -> None:
    """Take the next shadow change sent to the device and answer it with ``errcode``."""
    packet = client.receive()
    assert isinstance(packet, codec.Publish), packet
    client.send(codec.PubAck(packet.packet_id or 0))
    rsp = {"msgType": "deviceRsp", "mid": json.loads(packet.payload)["mid"], "errcode": errcode, "body": {}}
    client.send(codec.Publish(data_topic(device_id), json.dumps(rsp).encode(), qos=1, packet_id=7))
    assert client.receive() == codec.PubAck(7)


def test_a_push_is_a_json_post_to_the_callback_url(app: App) -> None:
    inbox = Inbox(app, "deviceAdded")
    device_id = app.register()["deviceId"]
    inbox.wait(1)
    [request] = shared().requests(inbox.path)
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.raw)["deviceId"] == device_id


def test_device_added_on_registration(app: App) -> None:
    """§1.6.7.1 L2798; status INACTIVE/NOT_ACTIVE and gatewayId = own id for a direct device (D2, note 2 D14)."""
    inbox = Inbox(app, "deviceAdded")
    node_id = unique_node_id()
    info = {"model": "M1", "name": "Lamp", "manufacturerId": "acme", "deviceType": "MultiSensor"}
    device_id = app.register(node_id, deviceInfo=info)["deviceId"]
    [push] = inbox.wait(1)
    assert push == {
        "notifyType": "deviceAdded",
        "deviceId": device_id,
        "gatewayId": device_id,
        "nodeType": "GATEWAY",
        "deviceInfo": device_info(nodeId=node_id, status="INACTIVE", statusDetail="NOT_ACTIVE", **info),
    }


def test_device_added_on_v2_registration(app: App) -> None:
    inbox = Inbox(app, "deviceAdded")
    node_id = unique_node_id()
    device_id = app.register_v2(node_id, name="Meter")["deviceId"]
    [push] = inbox.wait(1)
    assert push == {
        "notifyType": "deviceAdded",
        "deviceId": device_id,
        "gatewayId": device_id,
        "nodeType": "GATEWAY",
        "deviceInfo": device_info(
            nodeId=node_id, model="M1", name="Meter", status="INACTIVE", statusDetail="NOT_ACTIVE"
        ),
    }


def test_device_info_changed_on_modification(app: App) -> None:
    """§1.6.7.3 L3027: the full DeviceInfo after the change, with gatewayId (mandatory there)."""
    inbox = Inbox(app, "deviceInfoChanged")
    node_id = unique_node_id()
    device_id = app.register(node_id)["deviceId"]
    change = {"name": "Renamed", "location": "Hall", "manufacturerName": "Acme", "mute": "TRUE"}
    assert app.http.put(f"{DEVICES}/{device_id}", json=change).status_code == 204
    [push] = inbox.wait(1)
    assert push == {
        "notifyType": "deviceInfoChanged",
        "deviceId": device_id,
        "gatewayId": device_id,
        "deviceInfo": device_info(nodeId=node_id, model="M1", status="INACTIVE", statusDetail="NOT_ACTIVE", **change),
    }


def test_device_deleted(app: App) -> None:
    """§1.6.7.9 L3485."""
    inbox = Inbox(app, "deviceDeleted")
    device_id = app.register()["deviceId"]
    assert app.http.delete(f"{DEVICES}/{device_id}").status_code == 204
    assert inbox.wait(1) == [{"notifyType": "deviceDeleted", "deviceId": device_id, "gatewayId": device_id}]


def test_bind_device_expired(app: App) -> None:
    """§1.6.7.2 L2917: an unactivated registration whose timeout lapses (D1)."""
    inbox = Inbox(app, "bindDevice")
    node_id = unique_node_id()
    device_id = app.register(node_id, timeout=1)["deviceId"]
    [push] = inbox.wait(1)
    assert push == {
        "notifyType": "bindDevice",
        "deviceId": device_id,
        "resultCode": "expired",
        "deviceInfo": device_info(nodeId=node_id, model="M1", status="INACTIVE", statusDetail="NOT_ACTIVE"),
    }


def test_bind_device_succeeded_on_first_connection(node: PlatformThread, app: App) -> None:
    """§1.6.7.2 L2917: the first successful connection (D2); later ones bind nothing."""
    inbox = Inbox(app, "bindDevice")
    device_id, node_id, secret = mqtt_device(app)
    PahoDevice(node, device_id, secret).close()
    [push] = inbox.wait(1)
    assert push == {
        "notifyType": "bindDevice",
        "deviceId": device_id,
        "resultCode": "succeeded",
        "deviceInfo": device_info(nodeId=node_id, model="M1", status="ONLINE", statusDetail="NONE"),
    }
    PahoDevice(node, device_id, secret).close()
    assert len(inbox.settled()) == 1


def test_device_data_changed_and_datas_changed_on_a_report(node: PlatformThread, app: App) -> None:
    """§1.6.7.4 L3132 per service, §1.6.7.5 L3209 for the whole report (S4), in the report's order."""
    data, datas = Inbox(app, "deviceDataChanged"), Inbox(app, "deviceDatasChanged")
    device_id, _, secret = mqtt_device(app)
    device = PahoDevice(node, device_id, secret)
    try:
        device.report(
            [
                {"serviceId": "Battery", "serviceData": {"batteryLevel": 75}, "eventTime": "20161219T114920Z"},
                {"serviceId": "Temp", "serviceData": {"t": 21.5}},
            ]
        )
        device.report([{"serviceId": "Temp", "serviceData": {"t": 22}, "eventTime": "20161219T115000Z"}])
        battery, temp, temp_again = data.wait(3)
        [whole, single] = datas.wait(2)
    finally:
        device.close()
    received_at = temp["service"]["eventTime"]
    assert TIME.match(received_at)  # no eventTime in the report: the time it was received (L25140)
    services = [
        {
            "serviceId": "Battery",
            "serviceType": "Battery",
            "data": {"batteryLevel": 75},
            "eventTime": "20161219T114920Z",
        },
        {"serviceId": "Temp", "serviceType": "Temp", "data": {"t": 21.5}, "eventTime": received_at},
    ]
    again = {"serviceId": "Temp", "serviceType": "Temp", "data": {"t": 22}, "eventTime": "20161219T115000Z"}
    envelope = {"deviceId": device_id, "gatewayId": device_id}
    assert battery == {"notifyType": "deviceDataChanged", "requestId": None, **envelope, "service": services[0]}
    assert temp == {"notifyType": "deviceDataChanged", "requestId": None, **envelope, "service": services[1]}
    assert temp_again == {"notifyType": "deviceDataChanged", "requestId": None, **envelope, "service": again}
    assert isinstance(whole["requestId"], str) and whole["requestId"]
    assert whole == {
        "notifyType": "deviceDatasChanged",
        "requestId": whole["requestId"],
        **envelope,
        "services": services,
    }
    assert single["requestId"] != whole["requestId"]
    assert single == {
        "notifyType": "deviceDatasChanged",
        "requestId": single["requestId"],
        **envelope,
        "services": [again],
    }


def test_desired_properties_status_changed(node: PlatformThread, app: App) -> None:
    """§1.6.7.14 L3847: the outcome of delivering a shadow change to the device (D4)."""
    inbox = Inbox(app, "deviceDesiredPropertiesModifyStatusChanged")
    device_id, _, secret = mqtt_device(app)
    client = listening(node, device_id, secret)
    try:
        for service_id, desired, errcode in (("Light", {"on": True}, 0), ("Fan", {"speed": 3}, 1)):
            body = {"serviceDesireds": [{"serviceId": service_id, "desired": desired}]}
            assert app.http.put(f"{SHADOW}/{device_id}", json=body).status_code == 200
            answer_desired(client, device_id, errcode)
        delivered, failed = inbox.wait(2)
    finally:
        client.close()
    change = {"notifyType": "deviceDesiredPropertiesModifyStatusChanged", "deviceId": device_id}
    assert delivered == {**change, "serviceId": "Light", "properties": {"on": True}, "status": "DELIVERED"}
    assert failed == {**change, "serviceId": "Fan", "properties": {"speed": 3}, "status": "FAILED"}


def test_profile_import_replacement_and_deletion(node: PlatformThread, app: App) -> None:
    """§1.6.7.6-1.6.7.8 L3293-3484 and the SDK's deviceModelAdded/Deleted (L9348, L9416): to the apps with a
    device of the model (D6, docs/decisions.md)."""
    types = ("deviceCapabilitiesAdded", "deviceCapabilitiesChanged", "deviceCapabilitiesDeleted")
    inbox = Inbox(app, *types, "deviceModelAdded", "deviceModelDeleted")
    profile = new_profile()
    app.register(deviceInfo=key_of(profile))
    import_profile(node, profile)
    import_profile(node, profile)
    with node.admin() as admin:
        assert admin.delete("/admin/profiles", params={"productId": profile["productId"]}).status_code == 204
    fields = {**key_of(profile), "appId": app.app_id}
    inbox.settled()
    by_type = {t: inbox.pushes(t) for t in (*types, "deviceModelAdded", "deviceModelDeleted")}
    assert by_type == {
        "deviceCapabilitiesAdded": [{"notifyType": "deviceCapabilitiesAdded", **fields}],
        "deviceCapabilitiesChanged": [{"notifyType": "deviceCapabilitiesChanged", **fields}],
        "deviceCapabilitiesDeleted": [{"notifyType": "deviceCapabilitiesDeleted", **fields}],
        "deviceModelAdded": [{"notifyType": "deviceModelAdded", **fields}] * 2,
        "deviceModelDeleted": [{"notifyType": "deviceModelDeleted", **fields}],
    }
