"""Shadow changes are checked against the device's product model once one is loaded (§1.4.8, D4, D6)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.device.devices import PahoDevice
from tests.harness import App, PlatformThread, assert_error, unique_node_id

SHADOW = "/iocm/app/shadow/v1.5.0/devices"


def profile(model: str) -> dict[str, Any]:
    return {
        "manufacturerId": "t",
        "manufacturerName": "Test",
        "deviceType": "Thermostat",
        "model": model,
        "protocolType": "MQTT",
        "services": [
            {
                "serviceId": "Settings",
                "properties": [
                    {"propertyName": "target", "dataType": "int", "method": "RW"},
                    {"propertyName": "measured", "dataType": "int", "method": "RE"},
                ],
            },
            {"serviceId": "Actions", "commands": [{"commandName": "REBOOT"}]},
        ],
    }


def change(app: App, device_id: str, service_id: str, desired: dict[str, Any]) -> Any:
    body = {"serviceDesireds": [{"serviceId": service_id, "desired": desired}]}
    return app.http.put(f"{SHADOW}/{device_id}", json=body)


def test_changes_are_checked_against_the_profile(node: PlatformThread, app: App) -> None:
    model = f"T-{uuid.uuid4().hex[:8]}"
    with node.admin() as admin:
        assert admin.post("/admin/profiles", json=profile(model)).status_code == 201
    info = {k: v for k, v in profile(model).items() if k != "services"}
    device_id = app.register_v2(unique_node_id(), **info)["deviceId"]

    assert_error(change(app, device_id, "Nope", {"target": 1}), 400, "100431")
    assert_error(change(app, device_id, "Actions", {"x": 1}), 400, "107002")
    assert_error(change(app, device_id, "Settings", {"unknown": 1}), 400, "107003")
    assert_error(change(app, device_id, "Settings", {"measured": 20}), 403, "100443")
    assert app.http.get(f"{SHADOW}/{device_id}").json()["services"] == []  # refused changes changed nothing
    assert change(app, device_id, "Settings", {"target": 21}).status_code == 200
    [service] = app.http.get(f"{SHADOW}/{device_id}").json()["services"]
    assert service["desiredProps"] == {"target": 21}


def test_without_a_profile_any_change_is_taken(app: App) -> None:
    device_id = app.register_v2(unique_node_id())["deviceId"]
    assert change(app, device_id, "Anything", {"at": "all"}).status_code == 200


def test_reports_carry_the_profile_service_type(node: PlatformThread, app: App) -> None:
    model = f"T-{uuid.uuid4().hex[:8]}"
    with_type = profile(model)
    with_type["services"][0]["serviceType"] = "ThermostatSettings"
    with node.admin() as admin:
        assert admin.post("/admin/profiles", json=with_type).status_code == 201
    info = {k: v for k, v in with_type.items() if k != "services"}
    done = app.register_v2(unique_node_id(), **info)
    device = PahoDevice(node, done["deviceId"], done["secret"])
    try:
        device.report([{"serviceId": "Settings", "serviceData": {"measured": 19}}])
    finally:
        device.close()
    [service] = app.http.get(f"/iocm/app/dm/v1.4.0/devices/{done['deviceId']}").json()["services"]
    assert service["serviceType"] == "ThermostatSettings"
