"""The profile format (docs/profiles.md): validation, the §1.5.5 capabilities, the notification payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from iotdm.domain.profiles import (
    ProfileError,
    ProfileKey,
    added_notifications,
    capabilities,
    deleted_notifications,
    key_of_device,
    parse_profile,
    profile_ref,
    to_json,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "profile-multisensor.json"
KEY = ProfileKey("acme", "Acme Sensors", "MultiSensor", "MS-100", "MQTT")
PARA_KEYS = {"paraName", "dataType", "required", "min", "max", "step", "maxLength", "unit", "enumList"}
PROPERTY_KEYS = {
    "propertyName",
    "dataType",
    "required",
    "min",
    "max",
    "step",
    "maxLength",
    "method",
    "unit",
    "enumList",
}


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return loaded


def minimal(**overrides: Any) -> dict[str, Any]:
    return {**KEY.json(), "services": [], **overrides}


def with_property(**prop: Any) -> dict[str, Any]:
    base = {"propertyName": "p", "dataType": "int", "method": "R"}
    return minimal(services=[{"serviceId": "S", "properties": [{**base, **prop}]}])


def with_para(**para: Any) -> dict[str, Any]:
    base = {"paraName": "x", "dataType": "int"}
    return minimal(services=[{"serviceId": "S", "commands": [{"commandName": "C", "paras": [{**base, **para}]}]}])


def error_of(obj: object) -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profile(obj)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------------- parsing


def test_the_documented_example_parses() -> None:
    profile = parse_profile(example())
    assert profile.key == KEY
    assert profile.product_id == "acme-ms-100"
    assert [s.service_id for s in profile.services] == ["Climate", "Battery", "Settings"]
    settings = profile.services[2]
    assert [c.name for c in settings.commands] == ["SET_INTERVAL", "REBOOT"]
    assert settings.commands[0].responses[0].paras[0].spec.enum_list == ("OK", "OUT_OF_RANGE")


def test_a_profile_needs_only_its_key() -> None:
    profile = parse_profile(KEY.json())
    assert profile.key == KEY and profile.product_id is None and profile.services == ()


def test_normalized_form_reads_back_to_the_same_profile() -> None:
    profile = parse_profile(example())
    assert parse_profile(to_json(profile)) == profile
    assert parse_profile(json.loads(json.dumps(to_json(profile)))) == profile


def test_null_means_absent() -> None:
    profile = parse_profile(minimal(productId=None, services=[{"serviceId": "S", "option": None, "commands": None}]))
    assert profile.product_id is None
    assert profile.services[0].option is None and profile.services[0].commands == ()


def test_service_type_defaults_to_the_service_id() -> None:
    assert parse_profile(minimal(services=[{"serviceId": "Meter"}])).services[0].service_type == "Meter"


def test_liberal_spellings_are_normalized() -> None:
    prop = parse_profile(with_property(dataType="DATETIME", method="er", required="TRUE")).services[0].properties[0]
    assert prop.spec.data_type == "DateTime"
    assert prop.method == "RE"
    assert prop.spec.required is True


def test_numbers_may_be_given_as_numbers_or_strings() -> None:
    spec = parse_profile(with_property(dataType="decimal", min=-1.5, max="2e3", step="0.5", maxLength=10))
    value = spec.services[0].properties[0].spec
    assert (value.min, value.max, value.step, value.max_length) == ("-1.5", "2e3", 0.5, 10)


@pytest.mark.parametrize(
    ("profile", "fragment"),
    [
        ([], "the profile: must be a JSON object"),
        ({**KEY.json(), "model": ""}, "model: is mandatory"),
        ({k: v for k, v in KEY.json().items() if k != "protocolType"}, "protocolType: is mandatory"),
        ({**KEY.json(), "deviceType": 5}, "deviceType: must be a string"),
        ({**KEY.json(), "manufacturerId": "x" * 257}, "manufacturerId: must be at most 256 characters"),
        (minimal(productId=""), "productId: must not be empty"),
        (minimal(services={}), "services: must be a list"),
        (minimal(services=["S"]), "services[0]: must be a JSON object"),
        (minimal(services=[{"serviceType": "T"}]), "services[0].serviceId: is mandatory"),
        (minimal(services=[{"serviceId": "S"}, {"serviceId": "S"}]), "serviceId 'S' appears twice"),
        (minimal(services=[{"serviceId": "S", "description": "d" * 10241}]), "at most 10240 characters"),
        (minimal(colour="red"), "the profile: unknown field(s) colour"),
        (minimal(services=[{"serviceId": "S", "propertys": []}]), "services[0]: unknown field(s) propertys"),
        (with_property(dataType="float"), "services[0].properties[0].dataType: 'float' is not one of"),
        (with_property(method=""), "properties[0].method: is mandatory"),
        (with_property(method="RX"), "properties[0].method: must combine R, W and E"),
        (with_property(method="RR"), "properties[0].method: must combine R, W and E"),
        (with_property(min="low"), "properties[0].min: must be an integer"),
        (with_property(min=1.5), "properties[0].min: must be an integer"),
        (with_property(dataType="decimal", max="nan"), "properties[0].max: must be a number"),
        (with_property(dataType="decimal", max="1e999"), "properties[0].max: is out of range"),
        (with_property(min=True), "properties[0].min: must be an integer"),
        (with_property(min="5", max="4"), "properties[0].min: 5 is greater than max 4"),
        (with_property(step=0), "properties[0].step: must be greater than 0"),
        (with_property(maxLength=-1), "properties[0].maxLength: must not be negative"),
        (with_property(maxLength="many"), "properties[0].maxLength: must be an integer"),
        (with_property(required="yes"), "properties[0].required: must be true or false"),
        (with_property(enumList="ON"), "properties[0].enumList: must be a list"),
        (with_property(enumList=["ON", None]), "properties[0].enumList[1]: must be a string"),
        (with_property(unit=7), "properties[0].unit: must be a string"),
        (with_para(paraName=""), "commands[0].paras[0].paraName: is mandatory"),
        (with_para(method="R"), "commands[0].paras[0]: unknown field(s) method"),
        (with_para(dataType=None), "commands[0].paras[0].dataType: is mandatory"),
    ],
)
def test_invalid_profiles_are_refused_with_the_place_and_reason(profile: object, fragment: str) -> None:
    assert fragment in error_of(profile)


def test_duplicate_names_are_refused_at_every_level() -> None:
    prop = {"propertyName": "p", "dataType": "int", "method": "R"}
    para = {"paraName": "x", "dataType": "int"}
    assert "propertyName 'p' appears twice" in error_of(
        minimal(services=[{"serviceId": "S", "properties": [prop, prop]}])
    )
    assert "commandName 'C' appears twice" in error_of(
        minimal(services=[{"serviceId": "S", "commands": [{"commandName": "C"}, {"commandName": "C"}]}])
    )
    assert "paraName 'x' appears twice" in error_of(
        minimal(services=[{"serviceId": "S", "commands": [{"commandName": "C", "paras": [para, para]}]}])
    )
    response = {"responseName": "R", "paras": [para]}
    assert "responseName 'R' appears twice" in error_of(
        minimal(services=[{"serviceId": "S", "commands": [{"commandName": "C", "responses": [response, response]}]}])
    )


def test_profile_error_is_a_value_error() -> None:
    assert issubclass(ProfileError, ValueError)


def test_parsing_does_not_change_the_input() -> None:
    given = example()
    kept = copy.deepcopy(given)
    parse_profile(given)
    assert given == kept


# ---------------------------------------------------------------------------------------------------- §1.5.5


def test_capabilities_follow_the_reference_shape() -> None:
    services = capabilities(parse_profile(example()))
    assert [set(s) for s in services] == [
        {"serviceId", "serviceType", "option", "description", "commands", "properties"}
    ] * 3
    climate, battery, settings = services
    assert climate["properties"][0] == {
        "propertyName": "temperature",
        "dataType": "decimal",
        "required": True,
        "min": "-40",
        "max": "125",
        "step": 0.1,
        "maxLength": None,
        "method": "RE",
        "unit": "°C",
        "enumList": None,
    }
    assert battery["description"] is None and battery["commands"] == []
    for prop in (p for s in services for p in s["properties"]):
        assert set(prop) == PROPERTY_KEYS
    set_interval, reboot = settings["commands"]
    assert set(set_interval) == {"commandName", "paras", "responses"}
    assert set(set_interval["paras"][0]) == PARA_KEYS
    assert set_interval["responses"][0]["responseName"] == "SET_INTERVAL_RSP"
    assert set(set_interval["responses"][0]["paras"][0]) == PARA_KEYS
    assert set_interval["responses"][0]["paras"][0]["enumList"] == ["OK", "OUT_OF_RANGE"]
    assert reboot == {"commandName": "REBOOT", "paras": [], "responses": []}


def test_json_types_follow_the_tables() -> None:
    """required Boolean, min/max String, step Double, maxLength Integer (G3: not the example's strings)."""
    prop = capabilities(parse_profile(with_property(required="true", min=0, max=10, step=1, maxLength="4")))[0]
    value = prop["properties"][0]
    assert value["required"] is True
    assert (value["min"], value["max"]) == ("0", "10")
    assert isinstance(value["step"], float) and value["step"] == 1.0
    assert value["maxLength"] == 4


def test_a_profile_without_services_has_no_capabilities() -> None:
    assert capabilities(parse_profile(KEY.json())) == []


# ---------------------------------------------------------------------------------------------------- keys


def test_key_of_device_needs_all_five_fields() -> None:
    row = {"manufacturer_id": "acme", "manufacturer_name": "Acme Sensors", "device_type": "MultiSensor"}
    assert key_of_device({**row, "model": "MS-100", "protocol_type": "MQTT"}) == KEY
    assert key_of_device({**row, "model": "MS-100", "protocol_type": None}) is None
    assert key_of_device({**row, "model": "", "protocol_type": "MQTT"}) is None


def test_profile_ref_is_a_product_id_or_the_whole_key() -> None:
    none = dict.fromkeys(("manufacturer_id", "manufacturer_name", "device_type", "model", "protocol_type"))
    whole = {"manufacturer_id": "acme", "manufacturer_name": "Acme Sensors", "device_type": "MultiSensor"}
    whole |= {"model": "MS-100", "protocol_type": "MQTT"}
    assert profile_ref("p1", none) == "p1"
    assert profile_ref(None, whole) == KEY
    with pytest.raises(ProfileError, match="productId alone or by all of"):
        profile_ref(None, none)
    with pytest.raises(ProfileError):
        profile_ref(None, {**whole, "model": None})
    with pytest.raises(ProfileError):
        profile_ref("p1", whole)


# ---------------------------------------------------------------------------------------------------- pushes


def test_added_notifications_carry_the_seven_fields_in_both_vocabularies() -> None:
    added = added_notifications("app1", KEY, replaced=False)
    assert [p["notifyType"] for p in added] == ["deviceCapabilitiesAdded", "deviceModelAdded"]
    for payload in added:
        assert {k: v for k, v in payload.items() if k != "notifyType"} == {
            "appId": "app1",
            "deviceType": "MultiSensor",
            "manufacturerName": "Acme Sensors",
            "manufacturerId": "acme",
            "model": "MS-100",
            "protocolType": "MQTT",
        }


def test_a_replaced_profile_is_a_capabilities_change() -> None:
    replaced = added_notifications("app1", KEY, replaced=True)
    assert [p["notifyType"] for p in replaced] == ["deviceCapabilitiesChanged", "deviceModelAdded"]


def test_deleted_notifications() -> None:
    deleted = deleted_notifications("app1", KEY)
    assert [p["notifyType"] for p in deleted] == ["deviceCapabilitiesDeleted", "deviceModelDeleted"]
    assert all(p["appId"] == "app1" and p["model"] == "MS-100" and "deviceId" not in p for p in deleted)
