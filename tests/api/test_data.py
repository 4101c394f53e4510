"""§1.5.1 and §1.5.2: querying one device and devices in batches (G3, G7, D2, D7), and restart durability."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import App, PlatformThread, assert_error, unique_node_id

DEVICES = "/iocm/app/dm/v1.4.0/devices"
SHADOW = "/iocm/app/shadow/v1.5.0/devices"
TIME = re.compile(r"^\d{8}T\d{6}Z$")

DEVICE_KEYS = {
    "deviceId",
    "gatewayId",
    "nodeType",
    "createTime",
    "lastModifiedTime",
    "deviceInfo",
    "services",
    "alarmInfo",
}
# DeviceInfoQueryDTO, §1.5.1 L1565-1593.
DEVICE_INFO_KEYS = {
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
    "imsi",
    "protocolType",
    "radiusIp",
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
}


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def register_many(app: App, count: int, **body: Any) -> list[str]:
    """Devices registered one after another, oldest first; distinct creation times keep the order certain."""
    ids = []
    for _ in range(count):
        ids.append(app.register(**body)["deviceId"])
        time.sleep(0.003)
    return ids


def query(app: App, **params: Any) -> dict[str, Any]:
    r = app.http.get(DEVICES, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids_of(page: dict[str, Any]) -> list[str]:
    return [d["deviceId"] for d in page["devices"]]


# §1.5.1 -----------------------------------------------------------------------------------------------------


def test_query_one_device_emits_every_documented_key(app: App) -> None:
    node_id = unique_node_id()
    device_id = app.register(node_id, deviceInfo={"model": "M1", "deviceType": "MultiSensor"})["deviceId"]
    r = app.http.get(f"{DEVICES}/{device_id}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == DEVICE_KEYS
    assert set(body["deviceInfo"]) == DEVICE_INFO_KEYS
    assert body["deviceId"] == device_id
    assert body["gatewayId"] == device_id  # directly registered (D2)
    assert body["nodeType"] == "GATEWAY"
    assert TIME.match(body["createTime"]) and TIME.match(body["lastModifiedTime"])
    assert abs(parse(body["createTime"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert body["services"] == []
    assert body["alarmInfo"] is None
    info = body["deviceInfo"]
    assert info["nodeId"] == node_id
    assert info["model"] == "M1" and info["deviceType"] == "MultiSensor"
    assert info["status"] == "INACTIVE" and info["statusDetail"] == "NOT_ACTIVE"
    assert info["mute"] == "FALSE" and info["isSecurity"] == "FALSE"
    for unknown in ("name", "description", "mac", "location", "swVersion", "radiusIp", "batteryLevel", "imsi"):
        assert info[unknown] is None, unknown


def test_select_imsi_in_any_case(app: App) -> None:
    device_id = app.register(imsi="460001234567890")["deviceId"]
    path = f"{DEVICES}/{device_id}"
    assert app.http.get(path).json()["deviceInfo"]["imsi"] is None
    for select in ("IMSI", "imsi"):
        r = app.http.get(path, params={"select": select})
        assert r.status_code == 200
        assert r.json()["deviceInfo"]["imsi"] == "460001234567890"


def test_select_other_than_imsi_is_invalid(app: App) -> None:
    device_id = app.register()["deviceId"]
    assert_error(app.http.get(f"{DEVICES}/{device_id}", params={"select": "foo"}), 400, "100405")


def test_unknown_device_and_another_apps_device_look_the_same(make_app: Callable[..., App], app: App) -> None:
    assert_error(app.http.get(f"{DEVICES}/no-such-device"), 404, "100403")
    foreign = make_app().register()["deviceId"]
    assert_error(app.http.get(f"{DEVICES}/{foreign}"), 404, "100403")


def test_modified_device_shows_its_new_info(app: App) -> None:
    device_id = app.register()["deviceId"]
    before = app.http.get(f"{DEVICES}/{device_id}").json()
    time.sleep(1.01)  # the reference's times have second resolution
    r = app.http.put(f"{DEVICES}/{device_id}", json={"name": "kitchen", "location": "floor 2"})
    assert r.status_code == 204
    after = app.http.get(f"{DEVICES}/{device_id}").json()
    assert after["deviceInfo"]["name"] == "kitchen" and after["deviceInfo"]["location"] == "floor 2"
    assert after["createTime"] == before["createTime"]
    assert parse(after["lastModifiedTime"]) > parse(before["lastModifiedTime"])


# §1.5.2 -----------------------------------------------------------------------------------------------------


def test_gateway_id_or_page_no_is_required(app: App) -> None:
    assert_error(app.http.get(DEVICES), 400, "100218")
    assert_error(app.http.get(DEVICES, params={"pageSize": 5}), 400, "100218")


def test_gateway_id_alone_suffices(app: App) -> None:
    device_id, _other = register_many(app, 2)
    page = query(app, gatewayId=device_id)
    assert page["pageNo"] == 0 and page["pageSize"] == 25
    assert page["totalCount"] == 1
    assert ids_of(page) == [device_id]


def test_empty_app_has_an_empty_first_page(app: App) -> None:
    assert query(app, pageNo=0) == {"totalCount": 0, "pageNo": 0, "pageSize": 25, "devices": []}


def test_paging_counts_everything_and_covers_each_device_once(app: App) -> None:
    ids = register_many(app, 7)
    pages = [query(app, pageNo=n, pageSize=3) for n in range(4)]
    assert [len(p["devices"]) for p in pages] == [3, 3, 1, 0]
    assert all(p["totalCount"] == 7 for p in pages)
    assert [(p["pageNo"], p["pageSize"]) for p in pages] == [(n, 3) for n in range(4)]
    listed = [device_id for p in pages for device_id in ids_of(p)]
    assert len(listed) == len(set(listed)) == 7
    assert set(listed) == set(ids)
    for device in pages[0]["devices"]:
        assert set(device) == DEVICE_KEYS and set(device["deviceInfo"]) == DEVICE_INFO_KEYS


def test_default_page_size_is_25(app: App) -> None:
    register_many(app, 26)
    first = query(app, pageNo=0)
    assert first["pageSize"] == 25 and first["totalCount"] == 26 and len(first["devices"]) == 25
    assert len(query(app, pageNo=1)["devices"]) == 1


def test_order_is_newest_first_unless_ascending(app: App) -> None:
    ids = register_many(app, 5)
    assert ids_of(query(app, pageNo=0)) == ids[::-1]
    assert ids_of(query(app, pageNo=0, sort="DESC")) == ids[::-1]
    assert ids_of(query(app, pageNo=0, sort="ASC")) == ids
    assert ids_of(query(app, pageNo=0, sort="asc")) == ids
    # Stable: the same query gives the same order, and paging follows it.
    paged = [d for n in range(3) for d in ids_of(query(app, pageNo=n, pageSize=2, sort="ASC"))]
    assert paged == ids


def test_invalid_paging_is_100216(app: App) -> None:
    for params in ({"pageSize": 0}, {"pageSize": 251}, {"pageSize": "x"}, {"pageNo": -1}, {"pageNo": "x"}):
        assert_error(app.http.get(DEVICES, params={"pageNo": 0, **params}), 400, "100216")
    assert_error(app.http.get(DEVICES, params={"pageNo": 2**63}), 400, "100216")  # beyond a Long
    far = query(app, pageNo=2**63 - 1, pageSize=250)  # a page far past the end is empty, not an error
    assert (far["pageNo"], far["devices"]) == (2**63 - 1, [])
    assert query(app, pageNo=0, pageSize=250)["pageSize"] == 250
    assert query(app, pageNo=0, pageSize=1)["pageSize"] == 1


def test_invalid_enumerations_are_100405(app: App) -> None:
    for params in ({"nodeType": "ROUTER"}, {"status": "ASLEEP"}, {"sort": "UP"}, {"select": "foo"}):
        assert_error(app.http.get(DEVICES, params={"pageNo": 0, **params}), 400, "100405")


def test_filters_narrow_the_result(app: App) -> None:
    sensor = app.register(deviceInfo={"model": "M1", "deviceType": "MultiSensor"})["deviceId"]
    camera = app.register(deviceInfo={"model": "M1", "deviceType": "CameraGateway", "name": "cam"})["deviceId"]
    plain = app.register()["deviceId"]
    r = app.http.put(f"{DEVICES}/{plain}", json={"name": "kitchen", "location": "floor 2"})
    assert r.status_code == 204

    def found(**params: Any) -> set[str]:
        page = query(app, pageNo=0, **params)
        assert page["totalCount"] == len(page["devices"])
        return set(ids_of(page))

    everything = {sensor, camera, plain}
    assert found() == everything
    assert found(gatewayId=camera) == {camera}
    assert found(nodeType="GATEWAY") == everything
    assert found(nodeType="ENDPOINT") == set()
    assert found(deviceType="MultiSensor") == {sensor}
    assert found(deviceType="CameraGateway") == {camera}
    assert found(name="cam") == {camera}
    assert found(name="kitchen") == {plain}
    assert found(location="floor 2") == {plain}
    assert found(location="floor 3") == set()
    assert found(status="INACTIVE") == everything
    assert found(status="ONLINE") == set()
    assert found(deviceType="MultiSensor", name="kitchen") == set()  # filters combine


def test_registration_time_window(app: App) -> None:
    device_id = app.register()["deviceId"]
    created = parse(app.http.get(f"{DEVICES}/{device_id}").json()["createTime"])
    now = datetime.now(UTC)

    def found(**params: Any) -> list[str]:
        return ids_of(query(app, pageNo=0, **params))

    assert found(startTime=fmt(now + timedelta(hours=1))) == []
    assert found(endTime=fmt(now - timedelta(hours=1))) == []
    window = {"startTime": fmt(now - timedelta(minutes=5)), "endTime": fmt(now + timedelta(minutes=5))}
    assert found(**window) == [device_id]
    # startTime is inclusive, endTime exclusive (D15): the creation second itself is inside only as a start.
    assert found(startTime=fmt(created)) == [device_id]
    assert found(endTime=fmt(created)) == []
    assert found(endTime=fmt(created + timedelta(seconds=1))) == [device_id]
    assert found(startTime=fmt(created + timedelta(seconds=1))) == []


def test_malformed_time_is_100405(app: App) -> None:
    for bad in ("2024-01-01T00:00:00Z", "20240101T000000", "20241301T000000Z", "yesterday"):
        assert_error(app.http.get(DEVICES, params={"pageNo": 0, "startTime": bad}), 400, "100405")
        assert_error(app.http.get(DEVICES, params={"pageNo": 0, "endTime": bad}), 400, "100405")


def test_select_imsi_applies_to_every_device(app: App) -> None:
    imsis = {app.register(imsi=f"46000{n}")["deviceId"]: f"46000{n}" for n in range(3)}
    with_imsi = query(app, pageNo=0, select="IMSI")["devices"]
    assert {d["deviceId"]: d["deviceInfo"]["imsi"] for d in with_imsi} == imsis
    assert all(d["deviceInfo"]["imsi"] is None for d in query(app, pageNo=0)["devices"])


def test_batch_query_lists_only_own_devices(make_app: Callable[..., App], app: App) -> None:
    other = make_app()
    mine = register_many(app, 2)
    theirs = register_many(other, 3)
    page = query(app, pageNo=0)
    assert page["totalCount"] == 2 and set(ids_of(page)) == set(mine)
    assert query(other, pageNo=0)["totalCount"] == 3
    assert query(app, gatewayId=theirs[0])["totalCount"] == 0  # another app's gateway is not a way in


# Durability ---------------------------------------------------------------------------------------------------


def test_restart_keeps_devices_tokens_and_shadows(node: PlatformThread, app: App) -> None:
    device_id = app.register()["deviceId"]
    assert app.http.put(f"{DEVICES}/{device_id}", json={"name": "durable"}).status_code == 204
    desired = {"serviceDesireds": [{"serviceId": "S", "desired": {"p": 1}}]}
    assert app.http.put(f"{SHADOW}/{device_id}", json=desired).status_code == 200

    node.restart()

    # Tokens live in the database: the one issued before the restart is still the valid one.
    r = app.http.get(f"{DEVICES}/{device_id}")
    assert r.status_code == 200, r.text
    assert r.json()["deviceInfo"]["name"] == "durable"
    app.login()
    assert query(app, pageNo=0)["totalCount"] == 1
    shadow = app.http.get(f"{SHADOW}/{device_id}")
    assert shadow.status_code == 200
    services = shadow.json()["services"]
    assert [(s["serviceId"], s["desiredProps"]) for s in services] == [("S", {"p": 1})]
