"""§1.4 device management: registration (v1, v2), key refresh, modification, deletion, activation status,
shadow, tenant isolation (D7), the pushes each change causes, and registration expiry (D1)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from iotdm.store import devices as device_store
from tests.harness import App, PlatformThread, assert_error, unique_node_id, wait_until
from tests.profiles import import_profile, new_profile
from tests.receiver import Inbox

REG_V1 = "/iocm/app/reg/v1.1.0/deviceCredentials"
REG_V2 = "/iocm/app/reg/v2.0.0/deviceCredentials"
DEVICES = "/iocm/app/dm/v1.4.0/devices"
SHADOW = "/iocm/app/shadow/v1.5.0/devices"
TIME = re.compile(r"^\d{8}T\d{6}Z$")
HEX32 = re.compile(r"^[0-9A-Fa-f]{32}$")


# ---------------------------------------------------------------------------------------------------- helpers


def get_device(app: App, device_id: str, **params: str) -> dict[str, Any]:
    r = app.http.get(f"{DEVICES}/{device_id}", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def get_shadow(app: App, device_id: str) -> dict[str, Any]:
    r = app.http.get(f"{SHADOW}/{device_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# Every notifyType a device change may cause: an inbox of all of them hears everything the app is told.
DEVICE_EVENTS = (
    "deviceAdded",
    "bindDevice",
    "deviceInfoChanged",
    "deviceDeleted",
    "deviceDataChanged",
    "deviceDatasChanged",
    "deviceDesiredPropertiesModifyStatusChanged",
)


def events(app: App) -> Inbox:
    """The app subscribed to every device notifyType; ``settled()`` answers what it was pushed, in arrival order."""
    return Inbox(app, *DEVICE_EVENTS)


def concurrently(app: App, calls: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
    """Each call on its own connection, all at once."""
    clients = [app.node.client() for _ in calls]
    for client in clients:
        client.headers.update(app.http.headers)
    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda pair: pair[0](pair[1]), zip(calls, clients, strict=True)))
    finally:
        for client in clients:
            client.close()


def post_raw(app: App, path: str, content: bytes) -> httpx.Response:
    return app.http.post(path, content=content, headers={"Content-Type": "application/json"})


# ---------------------------------------------------------------------------------------------------- §1.4.1


def test_register_v1_answers_generated_credentials_and_defaults(app: App) -> None:
    r = app.http.post(REG_V1, json={"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"deviceId", "verifyCode", "timeout", "psk"}
    assert isinstance(body["deviceId"], str) and body["deviceId"]
    assert isinstance(body["verifyCode"], str) and body["verifyCode"]
    assert body["timeout"] == 180
    assert HEX32.match(body["psk"]), body["psk"]


def test_register_v1_echoes_given_values(app: App) -> None:
    node_id = unique_node_id()
    body = {"nodeId": node_id, "verifyCode": node_id, "timeout": 300, "psk": "0123456789abcdefABCDEF", "imsi": "4600"}
    done = app.register(**body)
    assert done["verifyCode"] == node_id
    assert done["timeout"] == 300
    assert done["psk"] == "0123456789abcdefABCDEF"
    assert get_device(app, done["deviceId"], select="IMSI")["deviceInfo"]["imsi"] == "4600"


def test_register_v1_psk_bounds_are_accepted(app: App) -> None:
    assert app.register(psk="abcdef01")["psk"] == "abcdef01"
    assert app.register(psk="A" * 32)["psk"] == "A" * 32


def test_register_v1_timeout_bounds_are_accepted(app: App) -> None:
    assert app.register(timeout=0)["timeout"] == 0
    assert app.register(timeout=2147483647)["timeout"] == 2147483647


def test_register_v1_device_reads_back_inactive_gateway(app: App) -> None:
    node_id = unique_node_id()
    info = {"model": "M1", "name": "Lamp", "deviceType": "MultiSensor", "manufacturerId": "acme"}
    device_id = app.register(node_id, deviceInfo=info)["deviceId"]
    device = get_device(app, device_id)
    assert device["deviceId"] == device_id
    assert device["gatewayId"] == device_id
    assert device["nodeType"] == "GATEWAY"
    assert TIME.match(device["createTime"]) and TIME.match(device["lastModifiedTime"])
    assert device["services"] == []
    info_out = device["deviceInfo"]
    assert info_out["nodeId"] == node_id
    assert info_out["status"] == "INACTIVE"
    assert info_out["statusDetail"] == "NOT_ACTIVE"
    assert info_out["name"] == "Lamp"
    assert info_out["model"] == "M1"
    assert info_out["deviceType"] == "MultiSensor"
    assert info_out["manufacturerId"] == "acme"


def test_register_v1_node_id_inside_device_info(app: App) -> None:
    node_id = unique_node_id()
    r = app.http.post(REG_V1, json={"deviceInfo": {"nodeId": node_id, "model": "M1"}})
    assert r.status_code == 200, r.text
    assert get_device(app, r.json()["deviceId"])["deviceInfo"]["nodeId"] == node_id


def test_register_v1_without_device_info(app: App) -> None:
    # deviceInfo is optional in the table (its model is mandatory only when deviceInfo is sent).
    r = app.http.post(REG_V1, json={"nodeId": unique_node_id(), "verifyCode": "123456", "timeout": 0})
    assert r.status_code == 200, r.text
    assert get_device(app, r.json()["deviceId"])["deviceInfo"]["model"] is None


def test_register_v1_product_id_instead_of_model(node: PlatformThread, app: App) -> None:
    product = import_profile(node, new_profile())["productId"]
    r = app.http.post(REG_V1, json={"nodeId": unique_node_id(), "productId": product, "deviceInfo": {"name": "x"}})
    assert r.status_code == 200, r.text


def test_register_duplicate_node_id(make_app: Callable[..., App], app: App) -> None:
    node_id = unique_node_id()
    first = app.register(node_id)
    body = {"nodeId": node_id, "deviceInfo": {"model": "M1"}}
    assert_error(app.http.post(REG_V1, json=body), 400, "100426")
    inside = {"deviceInfo": {"nodeId": node_id, "model": "M1"}}
    assert_error(app.http.post(REG_V1, json=inside), 400, "100426")
    # nodeId is unique platform-wide, and v1 and v2 share one namespace (D1).
    other = make_app()
    assert_error(other.http.post(REG_V1, json=body), 400, "100426")
    assert_error(app.http.post(REG_V2, json=inside), 400, "100426")
    assert_error(other.http.post(REG_V2, json=inside), 400, "100426")
    v2_node = unique_node_id()
    app.register_v2(v2_node)
    assert_error(app.http.post(REG_V1, json={"nodeId": v2_node, "deviceInfo": {"model": "M1"}}), 400, "100426")
    # The first registration is untouched.
    assert get_device(app, first["deviceId"])["deviceInfo"]["nodeId"] == node_id
    r = other.http.get(DEVICES, params={"pageNo": 0})
    assert r.status_code == 200 and r.json()["totalCount"] == 0


def test_concurrent_registrations_of_one_node_id(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    body = {"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}}
    answers = concurrently(app, [lambda c: c.post(REG_V1, json=body)] * 4 + [lambda c: c.post(REG_V2, json=body)] * 4)
    assert sorted(r.status_code for r in answers) == [200] + [400] * 7, [r.text for r in answers]
    for r in answers:
        if r.status_code == 400:
            assert_error(r, 400, "100426")
    assert len(inbox.settled("deviceAdded")) == 1


def test_register_v1_invalid_input(app: App) -> None:
    inbox = events(app)

    def body(**fields: Any) -> dict[str, Any]:
        return {"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}, **fields}

    invalid = [
        {"deviceInfo": {"model": "M1"}},  # no nodeId anywhere
        body(nodeId=""),
        body(nodeId="n" * 257),
        body(psk="xyz12345"),  # not hex
        body(psk="abc1234"),  # 7 < 8
        body(psk="a" * 33),  # > 32
        body(psk=""),
        body(timeout=-1),
        body(timeout=2147483648),
        body(timeout="soon"),
        body(timeout=True),  # a JSON boolean is no Integer (it would otherwise read as 1 s)
        body(timeout=1.5),
        body(imsi="1" * 65),
        body(imsi=""),
        body(deviceInfo={"name": "no model"}),  # neither model nor productId
        body(deviceInfo={"model": ""}),
        body(deviceInfo={"model": "m" * 257}),
        body(verifyCode="v" * 257),
        body(isSecure="abc"),
        body(deviceInfo="M1"),
    ]
    for payload in invalid:
        assert_error(app.http.post(REG_V1, json=payload), 400, "50400")
    for raw in (b'{"nodeId": ', b"[]", b'"nodeId"', b"not json"):
        assert_error(post_raw(app, REG_V1, raw), 400, "50400")
    r = app.http.get(DEVICES, params={"pageNo": 0})
    assert r.json()["totalCount"] == 0  # nothing was registered
    assert inbox.settled() == []


def test_register_v1_accepted_node_id_length_limit(app: App) -> None:
    node_id = unique_node_id().ljust(256, "n")
    r = app.http.post(REG_V1, json={"nodeId": node_id, "deviceInfo": {"model": "M1"}, "imsi": "1" * 64})
    assert r.status_code == 200, r.text
    assert get_device(app, r.json()["deviceId"])["deviceInfo"]["nodeId"] == node_id


def test_register_v1_explicit_nulls_mean_absent(app: App) -> None:
    nulls = dict.fromkeys(("verifyCode", "timeout", "psk", "endUserId", "imsi", "isSecure", "productId"))
    body = {"nodeId": unique_node_id(), "deviceInfo": {"model": "M1", "name": None, "deviceType": None}, **nulls}
    r = app.http.post(REG_V1, json=body)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["timeout"] == 180
    assert HEX32.match(done["psk"])
    assert done["verifyCode"]
    info = get_device(app, done["deviceId"])["deviceInfo"]
    assert info["name"] is None and info["isSecurity"] == "FALSE"


def test_register_v1_ignores_unknown_fields(app: App) -> None:
    body = {"nodeId": unique_node_id(), "deviceInfo": {"model": "M1", "colour": "red"}, "whatever": [1, 2]}
    r = app.http.post(REG_V1, json=body)
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------------------------------------- §1.4.2


def test_register_v2_generates_psk_and_secret(app: App) -> None:
    node_id = unique_node_id()
    r = app.http.post(REG_V2, json={"deviceInfo": {"nodeId": node_id, "model": "M1"}, "mqttConnect": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"deviceId", "psk", "secret"}
    assert HEX32.match(body["psk"])
    assert isinstance(body["secret"], str) and body["secret"]
    device = get_device(app, body["deviceId"])
    assert device["nodeType"] == "GATEWAY" and device["gatewayId"] == body["deviceId"]
    assert device["deviceInfo"]["nodeId"] == node_id
    assert device["deviceInfo"]["status"] == "INACTIVE"
    assert device["deviceInfo"]["statusDetail"] == "NOT_ACTIVE"


def test_register_v2_echoes_given_secret(app: App) -> None:
    body = {"deviceInfo": {"nodeId": unique_node_id(), "model": "M1"}, "mqttConnect": True, "secret": "s3cret-Value"}
    r = app.http.post(REG_V2, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["secret"] == "s3cret-Value"


def test_register_v2_node_id_at_top_level(app: App) -> None:
    node_id = unique_node_id()
    r = app.http.post(REG_V2, json={"nodeId": node_id, "deviceInfo": {"model": "M1"}, "mqttConnect": True})
    assert r.status_code == 200, r.text
    assert get_device(app, r.json()["deviceId"])["deviceInfo"]["nodeId"] == node_id


def test_register_v2_explicit_nulls_and_unknown_fields(app: App) -> None:
    nulls = dict.fromkeys(("endUserId", "organization", "region", "timezone", "productId", "secret", "mqttConnect"))
    body = {"deviceInfo": {"nodeId": unique_node_id(), "model": "M1", "name": None}, "extra": True, **nulls}
    r = app.http.post(REG_V2, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["secret"]


def test_register_v2_invalid_input(app: App) -> None:
    def body(info: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        return {
            "deviceInfo": {"nodeId": unique_node_id(), "model": "M1", **(info or {})},
            "mqttConnect": True,
            **fields,
        }

    invalid = [
        {"deviceInfo": {"model": "M1"}, "mqttConnect": True},  # no nodeId anywhere
        {"deviceInfo": {"nodeId": unique_node_id()}, "mqttConnect": True},  # neither model nor productId
        body({"nodeId": ""}),
        body({"nodeId": "n" * 257}),
        body({"model": "m" * 257}),
        body(secret="s" * 257),
        body(mqttConnect="abc"),
        body(region="r" * 257),
    ]
    for payload in invalid:
        assert_error(app.http.post(REG_V2, json=payload), 400, "50400")
    assert_error(post_raw(app, REG_V2, b'{"deviceInfo": {'), 400, "50400")
    assert app.http.get(DEVICES, params={"pageNo": 0}).json()["totalCount"] == 0


# ---------------------------------------------------------------------------------------------------- §1.4.3


def test_refresh_key_answers_new_verify_code_and_timeout(app: App) -> None:
    done = app.register()
    path = f"{REG_V1}/{done['deviceId']}"
    r = app.http.put(path, json={"verifyCode": "AE10-12424-12414", "timeout": 300})
    assert r.status_code == 200, r.text
    assert r.json() == {"verifyCode": "AE10-12424-12414", "timeout": 300}
    r = app.http.put(path, json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timeout"] == 180
    assert body["verifyCode"] and body["verifyCode"] != done["verifyCode"]


def test_refresh_key_empty_body(app: App) -> None:
    device_id = app.register()["deviceId"]
    r = app.http.put(f"{REG_V1}/{device_id}")
    assert r.status_code == 200, r.text
    assert r.json()["timeout"] == 180 and r.json()["verifyCode"]


def test_refresh_key_changes_node_id(app: App) -> None:
    inbox = events(app)
    device_id = app.register()["deviceId"]
    new_node = unique_node_id()
    r = app.http.put(f"{REG_V1}/{device_id}", json={"nodeId": new_node, "timeout": 0})
    assert r.status_code == 200, r.text
    assert r.json()["timeout"] == 0
    assert get_device(app, device_id)["deviceInfo"]["nodeId"] == new_node
    changed = inbox.settled("deviceInfoChanged")
    assert changed[-1]["deviceId"] == device_id and changed[-1]["deviceInfo"]["nodeId"] == new_node


def test_refresh_key_node_id_taken(make_app: Callable[..., App], app: App) -> None:
    mine = app.register()
    taken_here = unique_node_id()
    app.register(taken_here)
    taken_elsewhere = unique_node_id()
    make_app().register(taken_elsewhere)
    path = f"{REG_V1}/{mine['deviceId']}"
    before = get_device(app, mine["deviceId"])
    assert_error(app.http.put(path, json={"nodeId": taken_here}), 400, "100426")
    assert_error(app.http.put(path, json={"nodeId": taken_elsewhere}), 400, "100426")
    assert get_device(app, mine["deviceId"]) == before
    # Its own nodeId is no conflict.
    own = before["deviceInfo"]["nodeId"]
    assert app.http.put(path, json={"nodeId": own}).status_code == 200


def test_concurrent_refresh_to_one_node_id(app: App) -> None:
    devices = [app.register()["deviceId"] for _ in range(4)]
    wanted = unique_node_id()
    calls: list[Callable[[httpx.Client], httpx.Response]] = [
        lambda c, d=d: c.put(f"{REG_V1}/{d}", json={"nodeId": wanted}) for d in devices
    ]
    answers = concurrently(app, calls)
    assert sorted(r.status_code for r in answers) == [200, 400, 400, 400], [r.text for r in answers]
    for r in answers:
        if r.status_code == 400:
            assert_error(r, 400, "100426")
    owners = [d for d in devices if get_device(app, d)["deviceInfo"]["nodeId"] == wanted]
    assert len(owners) == 1


def test_refresh_key_unknown_device(app: App) -> None:
    assert_error(app.http.put(f"{REG_V1}/no-such-device", json={}), 404, "100403")


def test_refresh_key_invalid_input(app: App) -> None:
    device_id = app.register()["deviceId"]
    path = f"{REG_V1}/{device_id}"
    before = get_device(app, device_id)
    for payload in (
        {"timeout": -1},
        {"timeout": 2147483648},
        {"timeout": "later"},
        {"timeout": False},
        {"nodeId": ""},
        {"nodeId": "n" * 257},
        {"verifyCode": "v" * 257},
        {"nodeId": unique_node_id(), "timeout": -5},
    ):
        assert_error(app.http.put(path, json=payload), 400, "50400")
    assert_error(app.http.put(path, content=b"{", headers={"Content-Type": "application/json"}), 400, "50400")
    assert get_device(app, device_id) == before


def test_refresh_key_ignores_nulls_and_unknown_fields(app: App) -> None:
    device_id = app.register()["deviceId"]
    node_id = get_device(app, device_id)["deviceInfo"]["nodeId"]
    r = app.http.put(f"{REG_V1}/{device_id}", json={"nodeId": None, "timeout": None, "verifyCode": None, "x": 1})
    assert r.status_code == 200, r.text
    assert r.json()["timeout"] == 180
    assert get_device(app, device_id)["deviceInfo"]["nodeId"] == node_id


# ---------------------------------------------------------------------------------------------------- §1.4.4


def test_modify_device_fields_are_visible(app: App) -> None:
    device_id = app.register()["deviceId"]
    change = {
        "name": "Kitchen lamp",
        "location": "Building 7",
        "deviceType": "Lamp",
        "manufacturerId": "acme-id",
        "manufacturerName": "ACME",
        "model": "L-200",
        "protocolType": "CoAP",
        "mute": "TRUE",
        "imsi": "460001234567890",
        "isSecure": True,
        "tags": [{"tagName": "floor", "tagValue": "2", "tagType": 1}],
        "customFields": [{"fieldName": "f", "fieldType": "String", "fieldValue": "v"}],
        "deviceConfig": {"dataConfig": {"dataAgingTime": 90}},
        "endUser": "u1",
        "organization": "org",
        "region": "eu",
        "timezone": "Europe/Paris",
        "ip": "10.0.0.1",
        "psk": "abcdef0123456789",
        "productId": "p-1",
    }
    r = app.http.put(f"{DEVICES}/{device_id}", json=change)
    assert r.status_code == 204, r.text
    assert r.content == b""
    device = get_device(app, device_id, select="IMSI")
    info = device["deviceInfo"]
    for key in ("name", "location", "deviceType", "manufacturerId", "manufacturerName", "model", "protocolType"):
        assert info[key] == change[key], key
    assert info["mute"] == "TRUE"
    assert info["imsi"] == "460001234567890"
    assert info["isSecurity"] == "TRUE"
    assert info["status"] == "INACTIVE"
    # Without select=IMSI the key is there but null (G3).
    assert get_device(app, device_id)["deviceInfo"]["imsi"] is None


def test_modify_device_absent_or_null_fields_keep_their_value(app: App) -> None:
    device_id = app.register()["deviceId"]
    assert app.http.put(f"{DEVICES}/{device_id}", json={"name": "A", "location": "L"}).status_code == 204
    r = app.http.put(f"{DEVICES}/{device_id}", json={"name": None, "location": None, "deviceType": "T", "junk": 1})
    assert r.status_code == 204, r.text
    info = get_device(app, device_id)["deviceInfo"]
    assert (info["name"], info["location"], info["deviceType"]) == ("A", "L", "T")
    assert app.http.put(f"{DEVICES}/{device_id}", json={}).status_code == 204
    assert get_device(app, device_id)["deviceInfo"]["name"] == "A"


def test_modify_device_mute_any_case(app: App) -> None:
    device_id = app.register()["deviceId"]
    assert app.http.put(f"{DEVICES}/{device_id}", json={"mute": "false"}).status_code == 204
    assert get_device(app, device_id)["deviceInfo"]["mute"] == "FALSE"


def test_modify_device_invalid_input_changes_nothing(app: App) -> None:
    device_id = app.register(deviceInfo={"model": "M1", "name": "Original"})["deviceId"]
    path = f"{DEVICES}/{device_id}"
    before = get_device(app, device_id, select="IMSI")
    invalid = [
        {"name": ""},
        {"name": "n" * 257},
        {"location": "l" * 1025},
        {"mute": "MAYBE"},
        {"deviceConfig": {"dataConfig": {"dataAgingTime": 91}}},
        {"deviceConfig": {"dataConfig": {"dataAgingTime": -1}}},
        {"deviceConfig": {"dataConfig": {"dataAgingTime": True}}},
        {"tags": [{"tagName": "t", "tagValue": "v", "tagType": True}]},
        {"tags": [{"tagName": "", "tagValue": "v"}]},
        {"tags": [{"tagName": "t" * 129, "tagValue": "v"}]},
        {"tags": [{"tagName": "t"}]},
        {"psk": "not-hex!"},
        {"imsi": "1" * 65},
        {"deviceType": ""},
    ]
    for payload in invalid:
        # A valid change next to the invalid one must not be applied either.
        assert_error(app.http.put(path, json={"name": "Changed", **payload}), 400, "100022")
    assert_error(app.http.put(path, content=b"{", headers={"Content-Type": "application/json"}), 400, "100022")
    assert get_device(app, device_id, select="IMSI") == before


def test_modify_device_is_secure_invalid(app: App) -> None:
    device_id = app.register()["deviceId"]
    before = get_device(app, device_id)
    assert_error(app.http.put(f"{DEVICES}/{device_id}", json={"isSecure": "abc"}), 400, "100440")
    assert_error(app.http.put(f"{DEVICES}/{device_id}", json={"isSecure": "abc", "name": "x"}), 400, "100440")
    assert get_device(app, device_id) == before


def test_modify_unknown_device(app: App) -> None:
    assert_error(app.http.put(f"{DEVICES}/no-such-device", json={"name": "x"}), 404, "100403")


# ---------------------------------------------------------------------------------------------------- §1.4.5


def test_delete_device(app: App) -> None:
    node_id = unique_node_id()
    device_id = app.register(node_id)["deviceId"]
    r = app.http.delete(f"{DEVICES}/{device_id}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_error(app.http.get(f"{DEVICES}/{device_id}"), 404, "100403")
    assert_error(app.http.get(f"{REG_V1}/{device_id}"), 404, "100403")
    assert_error(app.http.get(f"{SHADOW}/{device_id}"), 404, "100418")
    assert_error(app.http.delete(f"{DEVICES}/{device_id}"), 404, "100403")
    # Registering again is how a deleted device comes back; its nodeId is free.
    assert app.register(node_id)["deviceId"] != device_id


def test_delete_device_cascade_parameter(app: App) -> None:
    for cascade in ("true", "false", "True", "FALSE"):
        device_id = app.register()["deviceId"]
        r = app.http.delete(f"{DEVICES}/{device_id}", params={"cascade": cascade})
        assert r.status_code == 204, (cascade, r.text)
        assert_error(app.http.get(f"{DEVICES}/{device_id}"), 404, "100403")


def test_delete_unknown_device(app: App) -> None:
    assert_error(app.http.delete(f"{DEVICES}/no-such-device"), 404, "100403")


def test_delete_removes_the_shadow(app: App) -> None:
    device_id = app.register()["deviceId"]
    shadow = {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}
    assert app.http.put(f"{SHADOW}/{device_id}", json=shadow).status_code == 200
    assert app.http.delete(f"{DEVICES}/{device_id}").status_code == 204
    assert_error(app.http.get(f"{SHADOW}/{device_id}"), 404, "100418")
    assert_error(app.http.put(f"{SHADOW}/{device_id}", json=shadow), 404, "100403")


# ---------------------------------------------------------------------------------------------------- §1.4.7


def test_activation_status(app: App) -> None:
    named = app.register(deviceInfo={"model": "M1", "name": "Lamp"})["deviceId"]
    r = app.http.get(f"{REG_V1}/{named}")
    assert r.status_code == 200, r.text
    assert r.json() == {"deviceId": named, "activated": False, "name": "Lamp"}
    unnamed = app.register()["deviceId"]
    assert app.http.get(f"{REG_V1}/{unnamed}").json() == {"deviceId": unnamed, "activated": False, "name": None}
    assert app.http.put(f"{DEVICES}/{unnamed}", json={"name": "Renamed"}).status_code == 204
    assert app.http.get(f"{REG_V1}/{unnamed}").json()["name"] == "Renamed"


def test_activation_status_unknown_device(app: App) -> None:
    assert_error(app.http.get(f"{REG_V1}/no-such-device"), 404, "100403")


# ---------------------------------------------------------------------------------------------------- §1.4.8, §1.4.9


def test_modify_shadow_then_query_it(app: App) -> None:
    node_id = unique_node_id()
    device_id = app.register(node_id, deviceInfo={"model": "M1", "name": "Lamp"}, imsi="4600")["deviceId"]
    r = app.http.put(f"{SHADOW}/{device_id}", json={"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]})
    assert r.status_code == 200, r.text
    assert r.content == b""
    shadow = get_shadow(app, device_id)
    assert set(shadow) == {
        "deviceId",
        "gatewayId",
        "nodeType",
        "createTime",
        "lastModifiedTime",
        "deviceInfo",
        "services",
    }
    assert shadow["deviceId"] == device_id
    assert shadow["gatewayId"] == device_id
    assert shadow["nodeType"] == "GATEWAY"
    assert TIME.match(shadow["createTime"]) and TIME.match(shadow["lastModifiedTime"])
    info = shadow["deviceInfo"]
    assert "imsi" not in info and "radiusIp" not in info
    assert info["nodeId"] == node_id and info["name"] == "Lamp"
    assert info["status"] == "INACTIVE" and info["statusDetail"] == "NOT_ACTIVE"
    assert shadow["services"] == [
        {"serviceId": "Temp", "desiredProps": {"t": 1}, "reportedProps": None, "eventTime": None, "serviceType": None}
    ]


def test_shadow_of_a_fresh_device_has_no_services(app: App) -> None:
    device_id = app.register()["deviceId"]
    assert get_shadow(app, device_id)["services"] == []


def test_modify_shadow_merges_desired_properties(app: App) -> None:
    device_id = app.register()["deviceId"]
    path = f"{SHADOW}/{device_id}"
    assert app.http.put(path, json={"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}).status_code == 200
    body = {
        "serviceDesires": [{"serviceId": "Temp", "desired": {"h": 2}}, {"serviceId": "Led", "desired": {"on": True}}]
    }
    assert app.http.put(path, json=body).status_code == 200  # the table's spelling (D4)
    assert app.http.put(path, json={"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 5}}]}).status_code == 200
    services = {s["serviceId"]: s["desiredProps"] for s in get_shadow(app, device_id)["services"]}
    assert services == {"Temp": {"t": 5, "h": 2}, "Led": {"on": True}}


def test_modify_shadow_null_under_one_spelling_is_absent(app: App) -> None:
    device_id = app.register()["deviceId"]
    body = {"serviceDesireds": None, "serviceDesires": [{"serviceId": "Temp", "desired": {"t": 1}}]}
    r = app.http.put(f"{SHADOW}/{device_id}", json=body)
    assert r.status_code == 200, r.text
    assert get_shadow(app, device_id)["services"][0]["desiredProps"] == {"t": 1}


def test_modify_shadow_invalid_input_changes_nothing(app: App) -> None:
    device_id = app.register()["deviceId"]
    path = f"{SHADOW}/{device_id}"
    assert app.http.put(path, json={"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}).status_code == 200
    before = get_shadow(app, device_id)
    invalid: list[Any] = [
        {},
        {"serviceDesireds": []},
        {"serviceDesires": []},
        {"serviceDesireds": None},
        {"serviceDesireds": {"serviceId": "Temp", "desired": {"t": 2}}},
        {"serviceDesireds": [{"serviceId": "Temp", "desired": 2}]},
        {"serviceDesireds": [{"serviceId": "Temp", "desired": [2]}]},
        {"serviceDesireds": [{"serviceId": "Temp", "desired": "t=2"}]},
        {"serviceDesireds": [{"serviceId": "Temp"}]},
        {"serviceDesireds": [{"desired": {"t": 2}}]},
        {"serviceDesireds": [{"serviceId": "", "desired": {"t": 2}}]},
        {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 2}}, {"serviceId": "Temp", "desired": 3}]},
    ]
    for payload in invalid:
        assert_error(app.http.put(path, json=payload), 400, "50400")
    assert_error(app.http.put(path, content=b"{", headers={"Content-Type": "application/json"}), 400, "50400")
    assert_error(app.http.put(path), 400, "50400")
    assert get_shadow(app, device_id) == before


def test_shadow_unknown_device(app: App) -> None:
    body = {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}
    assert_error(app.http.put(f"{SHADOW}/no-such-device", json=body), 404, "100403")
    assert_error(app.http.get(f"{SHADOW}/no-such-device"), 404, "100418")


# ---------------------------------------------------------------------------------------------------- D7


def test_another_apps_device_is_unknown(make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    owner_inbox, app_inbox = events(owner), events(app)
    device_id = owner.register(deviceInfo={"model": "M1", "name": "Mine"})["deviceId"]
    shadow = {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}
    assert owner.http.put(f"{SHADOW}/{device_id}", json=shadow).status_code == 200
    before = get_device(owner, device_id)
    shadow_before = get_shadow(owner, device_id)
    owner_events = len(owner_inbox.settled())

    assert_error(app.http.get(f"{DEVICES}/{device_id}"), 404, "100403")
    assert_error(app.http.put(f"{DEVICES}/{device_id}", json={"name": "Stolen"}), 404, "100403")
    assert_error(app.http.delete(f"{DEVICES}/{device_id}"), 404, "100403")
    assert_error(app.http.put(f"{REG_V1}/{device_id}", json={"nodeId": unique_node_id()}), 404, "100403")
    assert_error(app.http.get(f"{REG_V1}/{device_id}"), 404, "100403")
    assert_error(app.http.get(f"{SHADOW}/{device_id}"), 404, "100418")
    other_shadow = {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 99}}]}
    assert_error(app.http.put(f"{SHADOW}/{device_id}", json=other_shadow), 404, "100403")

    assert get_device(owner, device_id) == before
    assert get_shadow(owner, device_id) == shadow_before
    assert len(owner_inbox.settled()) == owner_events
    assert app_inbox.settled() == []
    assert app.http.get(DEVICES, params={"pageNo": 0}).json()["totalCount"] == 0


def test_authorized_app_manages_the_owners_devices(
    node: PlatformThread, make_app: Callable[..., App], app: App
) -> None:
    owner = make_app()
    with node.admin() as admin:
        r = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": app.app_id})
        assert r.status_code == 204, r.text
    owner_inbox, app_inbox = events(owner), events(app)
    on_behalf = {"appId": owner.app_id}
    r = app.http.post(REG_V1, params=on_behalf, json={"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}})
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    assert get_device(owner, device_id)["deviceId"] == device_id  # the device is the owner's
    assert_error(app.http.get(f"{DEVICES}/{device_id}"), 404, "100403")  # not the caller's own
    assert app.http.put(f"{DEVICES}/{device_id}", params=on_behalf, json={"name": "N"}).status_code == 204
    assert get_device(owner, device_id)["deviceInfo"]["name"] == "N"
    shadow = {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}
    assert app.http.put(f"{SHADOW}/{device_id}", params=on_behalf, json=shadow).status_code == 200
    assert app.http.get(f"{SHADOW}/{device_id}", params=on_behalf).json()["services"][0]["desiredProps"] == {"t": 1}
    assert app.http.get(f"{REG_V1}/{device_id}", params=on_behalf).json()["name"] == "N"
    assert app.http.put(f"{REG_V1}/{device_id}", params=on_behalf, json={}).status_code == 200
    assert app.http.delete(f"{DEVICES}/{device_id}", params=on_behalf).status_code == 204
    assert_error(owner.http.get(f"{DEVICES}/{device_id}"), 404, "100403")
    # Events belong to the owner app (one subscription per notifyType: no order between them).
    assert sorted(p["notifyType"] for p in owner_inbox.settled()) == [
        "deviceAdded",
        "deviceDeleted",
        "deviceInfoChanged",
    ]
    assert app_inbox.settled() == []


# ---------------------------------------------------------------------------------------------------- pushes


def test_registration_writes_device_added(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    node_id = unique_node_id()
    device_id = app.register(node_id, deviceInfo={"model": "M1", "name": "Lamp"})["deviceId"]
    pushed = inbox.settled()
    assert [(p["notifyType"], p["deviceId"]) for p in pushed] == [("deviceAdded", device_id)]
    payload = pushed[0]
    assert payload["notifyType"] == "deviceAdded"
    assert payload["deviceId"] == device_id
    assert payload["gatewayId"] == device_id
    assert payload["nodeType"] == "GATEWAY"
    info = payload["deviceInfo"]
    assert info["nodeId"] == node_id and info["name"] == "Lamp" and info["model"] == "M1"
    assert info["status"] == "INACTIVE" and info["statusDetail"] == "NOT_ACTIVE"
    assert "imsi" not in info and "radiusIp" not in info
    for key in ("description", "mac", "location", "swVersion", "bridgeId", "batteryLevel"):
        assert key in info and info[key] is None  # every documented key, null when unknown (G3)


def test_registration_v2_writes_device_added(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register_v2()["deviceId"]
    added = inbox.settled("deviceAdded")
    assert [p["deviceId"] for p in added] == [device_id]
    assert added[0]["nodeType"] == "GATEWAY"


def test_modify_writes_device_info_changed(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register()["deviceId"]
    assert app.http.put(f"{DEVICES}/{device_id}", json={"name": "Renamed", "location": "Hall"}).status_code == 204
    changed = inbox.settled("deviceInfoChanged")
    assert len(changed) == 1
    assert changed[0]["notifyType"] == "deviceInfoChanged"
    assert changed[0]["deviceId"] == device_id
    assert changed[0]["gatewayId"] == device_id
    assert changed[0]["deviceInfo"]["name"] == "Renamed"
    assert changed[0]["deviceInfo"]["location"] == "Hall"


def test_delete_writes_device_deleted(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register()["deviceId"]
    assert app.http.delete(f"{DEVICES}/{device_id}").status_code == 204
    deleted = inbox.settled("deviceDeleted")
    assert deleted == [{"notifyType": "deviceDeleted", "deviceId": device_id, "gatewayId": device_id}]


def test_rejected_requests_write_no_event(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    node_id = unique_node_id()
    device_id = app.register(node_id)["deviceId"]
    count = len(inbox.settled())
    assert_error(app.http.post(REG_V1, json={"nodeId": node_id, "deviceInfo": {"model": "M1"}}), 400, "100426")
    assert_error(app.http.post(REG_V1, json={"nodeId": unique_node_id(), "psk": "zz"}), 400, "50400")
    assert_error(app.http.put(f"{DEVICES}/{device_id}", json={"name": ""}), 400, "100022")
    assert_error(app.http.put(f"{DEVICES}/{device_id}", json={"isSecure": "abc"}), 400, "100440")
    assert_error(app.http.put(f"{DEVICES}/no-such-device", json={"name": "x"}), 404, "100403")
    assert_error(app.http.delete(f"{DEVICES}/no-such-device"), 404, "100403")
    assert_error(app.http.put(f"{REG_V1}/{device_id}", json={"timeout": -1}), 400, "50400")
    other_node = unique_node_id()
    app.register(other_node)
    count += 1
    assert_error(app.http.put(f"{REG_V1}/{device_id}", json={"nodeId": other_node}), 400, "100426")
    assert len(inbox.settled()) == count


# ---------------------------------------------------------------------------------------------------- expiry (D1)


def test_unactivated_registration_expires(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    node_id = unique_node_id()
    device_id = app.register(node_id, timeout=1)["deviceId"]
    assert app.http.get(f"{DEVICES}/{device_id}").status_code == 200
    gone = wait_until(lambda: app.http.get(f"{DEVICES}/{device_id}").status_code == 404)
    assert gone, "the registration did not expire within 5 s"
    assert_error(app.http.get(f"{DEVICES}/{device_id}"), 404, "100403")
    assert_error(app.http.get(f"{REG_V1}/{device_id}"), 404, "100403")
    bound = inbox.settled("bindDevice")
    assert len(bound) == 1
    assert bound[0]["deviceId"] == device_id
    assert bound[0]["resultCode"] == "expired"
    assert bound[0]["deviceInfo"]["nodeId"] == node_id
    # The nodeId is free again.
    assert app.register(node_id)["deviceId"] != device_id


def test_timeout_zero_never_expires(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register(timeout=0)["deviceId"]
    expiring = app.register(timeout=1)["deviceId"]
    assert wait_until(lambda: app.http.get(f"{DEVICES}/{expiring}").status_code == 404)
    time.sleep(1)
    assert get_device(app, device_id)["deviceId"] == device_id
    assert [p["deviceId"] for p in inbox.settled("bindDevice")] == [expiring]


def test_refresh_key_restarts_the_validity_period(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register(timeout=2)["deviceId"]
    assert app.http.put(f"{REG_V1}/{device_id}", json={"timeout": 0}).status_code == 200
    shortened = app.register(timeout=300)["deviceId"]
    assert app.http.put(f"{REG_V1}/{shortened}", json={"timeout": 1}).status_code == 200
    assert wait_until(lambda: app.http.get(f"{DEVICES}/{shortened}").status_code == 404)
    time.sleep(1.5)  # past the original 2 s of the first device
    assert get_device(app, device_id)["deviceId"] == device_id
    assert [p["deviceId"] for p in inbox.settled("bindDevice")] == [shortened]


def test_refused_changes_keep_the_registration_timer(make_app: Callable[..., App], app: App) -> None:
    taken = unique_node_id()
    app.register(taken)
    device_id = app.register(timeout=1)["deviceId"]
    assert_error(app.http.put(f"{REG_V1}/{device_id}", json={"nodeId": taken}), 400, "100426")
    intruder = make_app()
    assert_error(intruder.http.put(f"{REG_V1}/{device_id}", json={"timeout": 0}), 404, "100403")
    assert_error(intruder.http.delete(f"{DEVICES}/{device_id}"), 404, "100403")
    assert wait_until(lambda: app.http.get(f"{DEVICES}/{device_id}").status_code == 404)


def test_deleted_registration_does_not_expire_later(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register(timeout=1)["deviceId"]
    assert app.http.delete(f"{DEVICES}/{device_id}").status_code == 204
    time.sleep(2)
    assert inbox.settled("bindDevice") == []


def test_concurrent_delete_and_changes(node: PlatformThread, app: App) -> None:
    """Each change either happens before the deletion or finds the device gone: never a 5xx, one deletion, and
    a deviceInfoChanged for each change that happened."""
    inbox = events(app)
    shadow = {"serviceDesireds": [{"serviceId": "Temp", "desired": {"t": 1}}]}
    device_ids = [app.register()["deviceId"] for _ in range(8)]
    changes: dict[str, int] = {}
    for d in device_ids:
        calls: list[Callable[[httpx.Client], httpx.Response]] = [
            lambda c, d=d: c.delete(f"{DEVICES}/{d}"),
            lambda c, d=d: c.delete(f"{DEVICES}/{d}"),
            lambda c, d=d: c.put(f"{DEVICES}/{d}", json={"name": "x"}),
            lambda c, d=d: c.put(f"{SHADOW}/{d}", json=shadow),
            lambda c, d=d: c.put(f"{REG_V1}/{d}", json={"nodeId": unique_node_id()}),
        ]
        answers = concurrently(app, calls)
        assert sorted(r.status_code for r in answers[:2]) == [204, 404], [r.text for r in answers]
        for r in answers:
            if r.status_code >= 300:
                assert_error(r, 404, "100403")
        assert_error(app.http.get(f"{DEVICES}/{d}"), 404, "100403")
        changes[d] = sum(r.status_code < 300 for r in (answers[2], answers[4]))  # name and nodeId changes
    # One subscription per notifyType: their pushes have no order between them, so they are counted.
    pushed = inbox.settled()
    for d in device_ids:
        mine = Counter(p["notifyType"] for p in pushed if p["deviceId"] == d)
        expected = Counter({"deviceAdded": 1, "deviceInfoChanged": changes[d], "deviceDeleted": 1})
        assert mine == expected, mine


def test_expiry_racing_with_delete_and_refresh(node: PlatformThread, app: App) -> None:
    """At the moment a registration lapses, a deletion or a key refresh of it is either first or finds it gone."""
    inbox = events(app)
    device_ids = [app.register(timeout=1)["deviceId"] for _ in range(12)]
    time.sleep(0.9)
    calls: list[Callable[[httpx.Client], httpx.Response]] = [
        (lambda c, d=d: c.delete(f"{DEVICES}/{d}")) if i % 2 else (lambda c, d=d: c.put(f"{REG_V1}/{d}", json={}))
        for i, d in enumerate(device_ids)
    ]
    answers = concurrently(app, calls)
    for r in answers:
        if r.status_code >= 300:
            assert_error(r, 404, "100403")
    assert wait_until(lambda: all(app.http.get(f"{DEVICES}/{d}").status_code == 404 for d in device_ids[1::2]))
    pushed = inbox.settled()
    for i, d in enumerate(device_ids):
        mine = [(p["notifyType"], p.get("resultCode")) for p in pushed if p["deviceId"] == d]
        ends = [m for m in mine if m in (("deviceDeleted", None), ("bindDevice", "expired"))]
        refreshed = i % 2 == 0 and answers[i].status_code == 200
        assert len(ends) == (0 if refreshed else 1), mine


def test_malformed_body_without_credentials_is_an_authentication_error(app: App) -> None:
    with app.node.client() as anonymous:
        r = anonymous.post(REG_V1, content=b"{not json", headers={"Content-Type": "application/json"})
        assert_error(r, 401, "100025")
        r = anonymous.post(REG_V1, content=b"{not json", headers={"app_key": app.app_id, "Authorization": "Bearer x"})
        assert_error(r, 403, "1010005")
    assert_error(app.http.post(REG_V1, content=b"{not json"), 400, "50400")


def test_invalid_body_is_counted_once_by_flow_control(make_app: Callable[..., App]) -> None:
    limited = make_app(rate_limit=2)
    assert_error(limited.http.post(REG_V1, json={"nodeId": ""}), 400, "50400")
    assert_error(limited.http.post(REG_V1, content=b"{"), 400, "50400")
    assert_error(limited.http.post(REG_V1, json={"nodeId": ""}), 403, "1010009")


def test_refresh_key_refused_while_online(node: PlatformThread, app: App) -> None:
    device_id = app.register()["deviceId"]
    # Devices go online through device access (MQTT); here the store is set as a connection would set it.
    node.write(lambda conn: device_store.update(conn, device_id, {"status": "ONLINE"}))
    assert_error(app.http.put(f"{REG_V1}/{device_id}", json={"verifyCode": "abc"}), 400, "100611")
    node.write(lambda conn: device_store.update(conn, device_id, {"status": "OFFLINE"}))
    assert app.http.put(f"{REG_V1}/{device_id}", json={"verifyCode": "abc"}).status_code == 200


def test_refresh_key_empty_verify_code_is_generated(app: App) -> None:
    device_id = app.register()["deviceId"]
    r = app.http.put(f"{REG_V1}/{device_id}", json={"verifyCode": ""})
    assert r.status_code == 200
    assert r.json()["verifyCode"]


def test_modify_without_changes_writes_no_event(node: PlatformThread, app: App) -> None:
    inbox = events(app)
    device_id = app.register()["deviceId"]
    assert app.http.put(f"{DEVICES}/{device_id}", json={}).status_code == 204
    assert app.http.put(f"{DEVICES}/{device_id}", json={"name": None}).status_code == 204
    assert inbox.settled("deviceInfoChanged") == []
