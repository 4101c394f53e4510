"""Product models (D6, docs/profiles.md): the admin API (import, replace, list, delete), the notifications each
change pushes, and §1.5.5 device capabilities (by model fields, by productId, by gateway, all
devices, tenant isolation D7, the authorized app G5)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from iotdm.domain.profiles import capabilities, parse_profile
from iotdm.store.schema import devices
from tests.harness import App, PlatformThread, assert_error, unique_node_id
from tests.profiles import PROFILES, import_profile, key_of, new_profile
from tests.receiver import Inbox

CAPABILITIES = "/iocm/app/data/v1.1.0/deviceCapabilities"
REGISTER_V1 = "/iocm/app/reg/v1.1.0/deviceCredentials"
REGISTER_V2 = "/iocm/app/reg/v2.0.0/deviceCredentials"
PROFILE_EVENTS = (
    "deviceCapabilitiesAdded",
    "deviceCapabilitiesChanged",
    "deviceCapabilitiesDeleted",
    "deviceModelAdded",
    "deviceModelDeleted",
)


# ---------------------------------------------------------------------------------------------------- helpers


def device_info(profile: dict[str, Any]) -> dict[str, str]:
    """The registration's deviceInfo carrying the profile's five model fields."""
    return key_of(profile)


def list_profiles(node: PlatformThread) -> list[dict[str, Any]]:
    with node.admin() as admin:
        r = admin.get(PROFILES)
    assert r.status_code == 200, r.text
    listed: list[dict[str, Any]] = r.json()
    return listed


def delete_profile(node: PlatformThread, **params: str) -> int:
    with node.admin() as admin:
        return admin.delete(PROFILES, params=params).status_code


def subscribed(app: App) -> Inbox:
    """The app subscribed to every profile notification."""
    return Inbox(app, *PROFILE_EVENTS)


def profile_events(inbox: Inbox) -> dict[str, list[dict[str, Any]]]:
    """What the app was pushed, per notifyType (one subscription each: no order between them), oldest first."""
    pushed = inbox.settled()
    return {t: found for t in PROFILE_EVENTS if (found := [p for p in pushed if p["notifyType"] == t])}


def device_capabilities(app: App, **params: str) -> list[dict[str, Any]]:
    r = app.http.get(CAPABILITIES, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"deviceCapabilities"}
    listed: list[dict[str, Any]] = body["deviceCapabilities"]
    return listed


def services_of(app: App, device_id: str) -> list[dict[str, Any]]:
    [entry] = device_capabilities(app, deviceId=device_id)
    assert entry["deviceId"] == device_id
    services: list[dict[str, Any]] = entry["serviceCapabilities"]
    return services


def expected(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return capabilities(parse_profile(profile))


def add_child(app: App, gateway_id: str) -> str:
    """A device under ``gateway_id`` (ENDPOINT) with the gateway's model fields, as a gateway will add it."""
    child_id = f"child-{unique_node_id()}"

    def insert(conn: sa.Connection) -> None:
        gateway = conn.execute(devices.select().where(devices.c.device_id == gateway_id)).mappings().one()
        row = {**gateway, "device_id": child_id, "node_id": unique_node_id(), "node_type": "ENDPOINT"}
        conn.execute(
            devices.insert().values(**{**row, "gateway_id": gateway_id, "created_at": gateway["created_at"] + 1})
        )

    app.node.write(insert)
    return child_id


# ---------------------------------------------------------------------------------------------------- admin API


def test_import_answers_a_summary_and_lists_the_profile(node: PlatformThread) -> None:
    profile = new_profile()
    body = import_profile(node, profile)
    assert body == {
        **key_of(profile),
        "productId": profile["productId"],
        "serviceIds": ["Climate", "Battery", "Settings"],
        "createdAt": body["createdAt"],
        "replaced": False,
    }
    listed = [p for p in list_profiles(node) if p["productId"] == profile["productId"]]
    assert listed == [{k: v for k, v in body.items() if k != "replaced"}]


def test_delete_by_product_id(node: PlatformThread) -> None:
    profile = new_profile()
    import_profile(node, profile)
    assert delete_profile(node, productId=profile["productId"]) == 204
    assert profile["productId"] not in [p["productId"] for p in list_profiles(node)]
    assert delete_profile(node, productId=profile["productId"]) == 404


def test_delete_by_the_five_model_fields(node: PlatformThread) -> None:
    profile = new_profile()
    import_profile(node, profile)
    assert delete_profile(node, **{**key_of(profile), "model": "other"}) == 404
    assert delete_profile(node, **key_of(profile)) == 204
    assert delete_profile(node, **key_of(profile)) == 404


def test_delete_needs_a_product_id_or_the_whole_key(node: PlatformThread) -> None:
    profile = new_profile()
    import_profile(node, profile)
    with node.admin() as admin:
        assert_error(admin.delete(PROFILES), 400, "50400")
        assert_error(admin.delete(PROFILES, params={"model": profile["model"]}), 400, "50400")
        both = {**key_of(profile), "productId": profile["productId"]}
        assert_error(admin.delete(PROFILES, params=both), 400, "50400")
    assert profile["productId"] in [p["productId"] for p in list_profiles(node)]


def test_invalid_profiles_answer_50400(node: PlatformThread) -> None:
    invalid = new_profile()
    invalid["services"][0]["properties"][0]["min"] = "500"  # above max 125
    unknown_field = new_profile(colour="red")
    missing_key = {k: v for k, v in new_profile().items() if k != "protocolType"}
    with node.admin() as admin:
        for body in (invalid, unknown_field, missing_key):
            r = admin.post(PROFILES, json=body)
            assert r.status_code == 400, r.text
            assert r.json() == {"error_code": "50400", "error_desc": "The input is invalid."}
        assert_error(admin.post(PROFILES, json=[new_profile()]), 400, "50400")
        not_json = admin.post(PROFILES, content=b"{not json", headers={"Content-Type": "application/json"})
        assert_error(not_json, 400, "50400")
    assert invalid["productId"] not in [p["productId"] for p in list_profiles(node)]


def test_profiles_need_the_admin_token(node: PlatformThread) -> None:
    with node.client() as anonymous:
        assert_error(anonymous.get(PROFILES), 403, "1010005")
        assert_error(anonymous.post(PROFILES, json=new_profile()), 403, "1010005")
        assert_error(anonymous.delete(PROFILES, params={"productId": "x"}), 403, "1010005")
        # The token is checked before the body: a malformed one is not judged for a caller without it.
        assert_error(anonymous.post(PROFILES, content=b"{not json"), 403, "1010005")
        assert_error(anonymous.post("/admin/apps", json={"name": ""}), 403, "1010005")


def test_reimport_replaces_the_profile_with_the_same_key(node: PlatformThread, app: App) -> None:
    profile = new_profile()
    first = import_profile(node, profile)
    device_id = app.register(deviceInfo=device_info(profile))["deviceId"]
    changed = copy.deepcopy(profile)
    changed["productId"] = f"{profile['productId']}-v2"
    changed["services"] = changed["services"][:1]
    second = import_profile(node, changed)
    assert second["replaced"] is True
    assert second["createdAt"] == first["createdAt"]
    assert second["serviceIds"] == ["Climate"]
    mine = [p for p in list_profiles(node) if p["model"] == profile["model"]]
    assert [p["productId"] for p in mine] == [changed["productId"]]
    assert services_of(app, device_id) == expected(changed)


def test_a_product_id_belongs_to_one_profile(node: PlatformThread) -> None:
    profile = new_profile()
    import_profile(node, profile)
    thief = new_profile(productId=profile["productId"])
    with node.admin() as admin:
        assert_error(admin.post(PROFILES, json=thief), 400, "50400")
    assert thief["model"] not in [p["model"] for p in list_profiles(node)]


# ---------------------------------------------------------------------------------------------------- pushes


def test_import_and_delete_notify_the_apps_with_devices_of_the_model(
    node: PlatformThread, make_app: Callable[..., App]
) -> None:
    owner, bystander = make_app(), make_app()
    owner_inbox, bystander_inbox = subscribed(owner), subscribed(bystander)
    profile = new_profile()
    owner.register(deviceInfo=device_info(profile))
    import_profile(node, profile)
    fields = {**key_of(profile), "appId": owner.app_id}
    added = {
        "deviceCapabilitiesAdded": [{"notifyType": "deviceCapabilitiesAdded", **fields}],
        "deviceModelAdded": [{"notifyType": "deviceModelAdded", **fields}],
    }
    assert profile_events(owner_inbox) == added
    assert profile_events(bystander_inbox) == {}

    assert delete_profile(node, productId=profile["productId"]) == 204
    assert profile_events(owner_inbox) == {
        **added,
        "deviceCapabilitiesDeleted": [{"notifyType": "deviceCapabilitiesDeleted", **fields}],
        "deviceModelDeleted": [{"notifyType": "deviceModelDeleted", **fields}],
    }
    assert profile_events(bystander_inbox) == {}


def test_a_device_naming_the_product_id_makes_its_app_concerned(
    node: PlatformThread, make_app: Callable[..., App]
) -> None:
    owner, bystander = make_app(), make_app()
    owner_inbox, bystander_inbox = subscribed(owner), subscribed(bystander)
    profile = new_profile()
    import_profile(node, profile)  # no device has this model yet: every app is told
    owner.register(productId=profile["productId"], deviceInfo={"model": "unrelated"})
    # From now on the device's productId, not its model fields, makes its app the one concerned.
    assert delete_profile(node, productId=profile["productId"]) == 204
    import_profile(node, profile)
    counts = {t: len(found) for t, found in profile_events(owner_inbox).items()}
    assert counts == {t: 2 if t.endswith("Added") else 1 for t in PROFILE_EVENTS if "Changed" not in t}
    assert {t: len(found) for t, found in profile_events(bystander_inbox).items()} == {
        "deviceCapabilitiesAdded": 1,
        "deviceModelAdded": 1,
    }


def test_a_replacement_is_a_capabilities_change(node: PlatformThread, app: App) -> None:
    inbox = subscribed(app)
    profile = new_profile()
    app.register(deviceInfo=device_info(profile))
    import_profile(node, profile)
    import_profile(node, profile)
    pushed = profile_events(inbox)
    assert {t: len(found) for t, found in pushed.items()} == {
        "deviceCapabilitiesAdded": 1,
        "deviceCapabilitiesChanged": 1,
        "deviceModelAdded": 2,
    }


def test_a_model_no_app_has_yet_is_announced_to_every_app(node: PlatformThread, make_app: Callable[..., App]) -> None:
    apps = [make_app(), make_app()]
    inboxes = [subscribed(app) for app in apps]
    profile = new_profile()
    import_profile(node, profile)
    assert delete_profile(node, productId=profile["productId"]) == 204
    for app, inbox in zip(apps, inboxes, strict=True):
        pushed = profile_events(inbox)
        assert {t: [(e["appId"], e["model"]) for e in found] for t, found in pushed.items()} == {
            t: [(app.app_id, profile["model"])]
            for t in ("deviceCapabilitiesAdded", "deviceCapabilitiesDeleted", "deviceModelAdded", "deviceModelDeleted")
        }


def test_rejected_imports_write_no_event(node: PlatformThread, app: App) -> None:
    inbox = subscribed(app)
    invalid = new_profile(services="none")
    with node.admin() as admin:
        assert_error(admin.post(PROFILES, json=invalid), 400, "50400")
    assert delete_profile(node, productId="no-such-product") == 404
    assert profile_events(inbox) == {}


# ---------------------------------------------------------------------------------------------------- §1.5.5


def test_capabilities_of_a_device_with_matching_device_info(node: PlatformThread, app: App) -> None:
    profile = new_profile()
    import_profile(node, profile)
    device_id = app.register(deviceInfo=device_info(profile))["deviceId"]
    services = services_of(app, device_id)
    assert services == expected(profile)
    climate = services[0]
    assert (climate["serviceId"], climate["serviceType"], climate["option"]) == ("Climate", "Climate", "Mandatory")
    temperature = climate["properties"][0]
    assert temperature["propertyName"] == "temperature"
    assert (temperature["min"], temperature["max"], temperature["step"]) == ("-40", "125", 0.1)
    assert temperature["required"] is True and temperature["method"] == "RE" and temperature["enumList"] is None
    set_interval = services[2]["commands"][0]
    assert set_interval["responses"][0]["responseName"] == "SET_INTERVAL_RSP"
    assert set_interval["responses"][0]["paras"][0]["enumList"] == ["OK", "OUT_OF_RANGE"]


def test_capabilities_by_product_id_come_before_the_model_fields(node: PlatformThread, app: App) -> None:
    by_fields = new_profile()
    by_product = new_profile()
    by_product["services"] = by_product["services"][1:2]
    import_profile(node, by_fields)
    import_profile(node, by_product)
    device_id = app.register(productId=by_product["productId"], deviceInfo=device_info(by_fields))["deviceId"]
    assert services_of(app, device_id) == expected(by_product)


def test_registration_by_product_id_takes_the_products_model(node: PlatformThread, app: App) -> None:
    profile = new_profile()
    import_profile(node, profile)
    node_id = unique_node_id()
    for path, body in ((REGISTER_V1, {"nodeId": node_id}), (REGISTER_V2, {"deviceInfo": {"nodeId": node_id}})):
        # §1.4.1 L774, §1.4.2: an unknown product is 403 600002, and nothing is registered.
        assert_error(app.http.post(path, json={**body, "productId": "no-such-product"}), 403, "600002")
    r = app.http.post(REGISTER_V1, json={"nodeId": node_id, "productId": profile["productId"]})
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    info = app.http.get(f"/iocm/app/dm/v1.4.0/devices/{device_id}").json()["deviceInfo"]
    assert {name: info[name] for name in device_info(profile)} == device_info(profile)
    assert services_of(app, device_id) == expected(profile)


def test_a_device_without_a_profile_has_no_service_capabilities(node: PlatformThread, app: App) -> None:
    device_id = app.register(deviceInfo={"model": "nothing-imported"})["deviceId"]
    assert services_of(app, device_id) == []
    # One of five fields off is another model.
    profile = new_profile()
    import_profile(node, profile)
    other = app.register(deviceInfo={**device_info(profile), "protocolType": "CoAP"})["deviceId"]
    assert services_of(app, other) == []


def test_deleting_the_profile_removes_the_capabilities(node: PlatformThread, app: App) -> None:
    profile = new_profile()
    import_profile(node, profile)
    device_id = app.register(deviceInfo=device_info(profile))["deviceId"]
    assert services_of(app, device_id) != []
    assert delete_profile(node, productId=profile["productId"]) == 204
    assert services_of(app, device_id) == []


def test_gateway_id_lists_the_gateway_and_its_children(node: PlatformThread, app: App) -> None:
    profile = new_profile()
    import_profile(node, profile)
    gateway_id = app.register(deviceInfo=device_info(profile))["deviceId"]
    child_id = add_child(app, gateway_id)
    elsewhere = app.register(deviceInfo=device_info(profile))["deviceId"]
    listed = device_capabilities(app, gatewayId=gateway_id)
    assert [d["deviceId"] for d in listed] == [gateway_id, child_id]
    assert all(d["serviceCapabilities"] == expected(profile) for d in listed)
    assert elsewhere not in [d["deviceId"] for d in listed]
    # With both ids the device must be the gateway or under it.
    assert [d["deviceId"] for d in device_capabilities(app, gatewayId=gateway_id, deviceId=child_id)] == [child_id]
    assert device_capabilities(app, gatewayId=gateway_id, deviceId=elsewhere) == []


def test_without_ids_every_device_of_the_app_is_listed(node: PlatformThread, app: App) -> None:
    profile = new_profile()
    import_profile(node, profile)
    with_profile = app.register(deviceInfo=device_info(profile))["deviceId"]
    without = app.register(deviceInfo={"model": "nothing-imported"})["deviceId"]
    listed = {d["deviceId"]: d["serviceCapabilities"] for d in device_capabilities(app)}
    assert listed == {with_profile: expected(profile), without: []}


def test_an_app_without_devices_gets_an_empty_list(app: App) -> None:
    assert device_capabilities(app) == []


def test_unknown_and_foreign_devices_give_an_empty_list(node: PlatformThread, make_app: Callable[..., App]) -> None:
    owner, stranger = make_app(), make_app()
    profile = new_profile()
    import_profile(node, profile)
    device_id = owner.register(deviceInfo=device_info(profile))["deviceId"]
    assert device_capabilities(owner, deviceId="no-such-device") == []
    assert device_capabilities(owner, gatewayId="no-such-device") == []
    assert device_capabilities(stranger, deviceId=device_id) == []
    assert device_capabilities(stranger, gatewayId=device_id) == []
    assert device_capabilities(stranger) == []


def test_an_authorized_app_reads_the_owners_devices(node: PlatformThread, make_app: Callable[..., App]) -> None:
    owner, partner = make_app(), make_app()
    profile = new_profile()
    import_profile(node, profile)
    device_id = owner.register(deviceInfo=device_info(profile))["deviceId"]
    assert_error(partner.http.get(CAPABILITIES, params={"appId": owner.app_id}), 403, "100217")
    with node.admin() as admin:
        granted = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": partner.app_id})
        assert granted.status_code == 204, granted.text
    [entry] = device_capabilities(partner, appId=owner.app_id, deviceId=device_id)
    assert entry == {"deviceId": device_id, "serviceCapabilities": expected(profile)}
    assert [d["deviceId"] for d in device_capabilities(partner, appId=owner.app_id)] == [device_id]
    assert device_capabilities(partner, deviceId=device_id) == []  # without appId: the partner's own devices
    assert_error(partner.http.get(CAPABILITIES, params={"appId": "no-such-app"}), 403, "100203")


def test_capabilities_need_credentials(node: PlatformThread) -> None:
    with node.client() as anonymous:
        assert_error(anonymous.get(CAPABILITIES, headers={"app_key": "x"}), 403, "1010005")
