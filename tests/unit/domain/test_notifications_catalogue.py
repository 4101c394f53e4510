"""The push payloads of §1.6.7.10-18 and the SDK-only serviceInfoChanged / deviceEvent: every key of the
reference's tables present (G3), nothing else, each value where the reference puts it, enums enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from iotdm.domain import notifications
from iotdm.domain.notifications_commands import (
    CommandResultCode,
    ConfirmStatus,
    command_rsp,
    command_status_changed,
    message_confirm,
    service_info_changed,
)
from iotdm.domain.notifications_rules import ActionResult, Reason, rule_event
from iotdm.domain.notifications_upgrades import (
    UpgradeResult,
    UpgradeState,
    fw_upgrade_result,
    fw_upgrade_state_changed,
    sw_upgrade_result,
    sw_upgrade_state_changed,
)

AT = datetime(2015, 12, 12, 12, 12, 12, tzinfo=UTC)
LATER = datetime(2015, 12, 12, 12, 13, 0, tzinfo=UTC)
BOGUS = cast(Any, "bogus")  # what an untyped caller might pass for an enum

# The reference's request-parameter tables, key by key.
HEADER_CONFIRM = {"requestId", "from", "to", "status", "timestamp"}  # L3570-3574
HEADER_RSP = {"requestId", "from", "to", "deviceId", "serviceType", "method"}  # L3645-3652
HEADER_EVENT = {"eventType", "from", "timestamp", "eventTime", "deviceId", "serviceType"}  # L9300-9307
TASK_KEYS = {"notifyType", "deviceId", "appId", "operationId", "subOperationId"}


# ------------------------------------------------------------------------------------- messageConfirm 1.6.7.10


def test_message_confirm_matches_the_table() -> None:
    payload = message_confirm("req-1", "dev-1", "Camera", "/users/u1", ConfirmStatus.DELIVERED, AT, None)
    assert payload == {
        "notifyType": "messageConfirm",
        "header": {
            "requestId": "req-1",
            "from": "/devices/dev-1/services/Camera",
            "to": "/users/u1",
            "status": "delivered",
            "timestamp": "20151212T121212Z",
        },
        "body": {},
    }
    assert set(payload["header"]) == HEADER_CONFIRM


def test_message_confirm_keeps_the_body_and_a_missing_to() -> None:
    payload = message_confirm("r", "d", "s", None, ConfirmStatus.EXECUTED, AT, {"result": 0})
    assert payload["body"] == {"result": 0}
    assert payload["header"]["to"] is None and payload["header"]["status"] == "executed"


@pytest.mark.parametrize("status", ["sent", "delivered", "executed"])
def test_message_confirm_statuses_are_the_three_of_the_reference(status: str) -> None:
    assert message_confirm("r", "d", "s", None, ConfirmStatus(status), AT)["header"]["status"] == status


def test_message_confirm_refuses_another_status() -> None:
    with pytest.raises(ValueError):
        message_confirm("r", "d", "s", None, BOGUS, AT)


# ------------------------------------------------------------------------------------------ commandRsp 1.6.7.11


def test_command_rsp_matches_the_table() -> None:
    payload = command_rsp("req-1", "dev-1", "Camera", "CameraType", "/users/u1", "MUTE_COMMANDS", {"code": 0})
    assert payload == {
        "notifyType": "commandRsp",
        "header": {
            "requestId": "req-1",
            "from": "/devices/dev-1/services/Camera",
            "to": "/users/u1",
            "deviceId": "dev-1",
            "serviceType": "CameraType",
            "method": "MUTE_COMMANDS",
        },
        "body": {"code": 0},
    }
    assert set(payload) == {"notifyType", "header", "body"} and set(payload["header"]) == HEADER_RSP


# ------------------------------------------------------------------------------ command status change 1.6.7.12


def test_command_status_change_has_no_notify_type() -> None:
    payload = command_status_changed("dev-1", "cmd-1", CommandResultCode.SENT, None)
    assert payload == {
        "deviceId": "dev-1",
        "commandId": "cmd-1",
        "result": {"resultCode": "SENT", "resultDetail": None},
    }


def test_command_status_change_carries_the_device_answer() -> None:
    payload = command_status_changed("d", "c", CommandResultCode.SUCCESSFUL, {"light": "on"})
    assert payload["result"] == {"resultCode": "SUCCESSFUL", "resultDetail": {"light": "on"}}


def test_command_result_codes_are_the_c1_statuses_after_creation() -> None:
    assert {code.value for code in CommandResultCode} == {
        "SENT",
        "DELIVERED",
        "SUCCESSFUL",
        "FAILED",
        "TIMEOUT",
        "EXPIRED",
        "CANCELED",
    }


@pytest.mark.parametrize("code", ["PENDING", "DEFAULT", "SUCCESS", "FAIL", "sent"])
def test_command_status_change_refuses_other_codes(code: str) -> None:
    with pytest.raises(ValueError):
        command_status_changed("d", "c", cast(Any, code), None)


# ------------------------------------------------------------------------------------------- ruleEvent 1.6.7.13


def test_rule_event_matches_the_table() -> None:
    payload = rule_event(
        "admin",
        "rule-1",
        "too hot",
        "A and B",
        [Reason(AT, "DEVICE_DATA", "cond-1", {"temperature": 40}, {"k": "v"})],
        LATER,
        [ActionResult("DEVICE_CMD", "act-1", result={"statusCode": 200, "body": {}}, info={"i": 1})],
    )
    assert payload == {
        "notifyType": "ruleEvent",
        "author": "admin",
        "ruleId": "rule-1",
        "ruleName": "too hot",
        "logic": "A and B",
        "reasons": [
            {
                "satisfactionTime": "20151212T121212Z",
                "type": "DEVICE_DATA",
                "id": "cond-1",
                "info": {"temperature": 40},
                "transInfo": {"k": "v"},
            }
        ],
        "triggerTime": "20151212T121300Z",
        "actionsResults": [
            {
                "type": "DEVICE_CMD",
                "id": "act-1",
                "exception": None,
                "result": {"statusCode": 200, "body": {}},
                "info": {"i": 1},
                "transInfo": None,
            }
        ],
    }


def test_rule_event_optional_keys_are_present_as_null() -> None:
    payload = rule_event("a", "r", "n", None, [Reason(AT, "T")], AT, [ActionResult("SMS", exception="no gateway")])
    assert payload["logic"] is None
    assert payload["reasons"] == [
        {"satisfactionTime": "20151212T121212Z", "type": "T", "id": None, "info": None, "transInfo": None}
    ]
    assert payload["actionsResults"] == [
        {"type": "SMS", "id": None, "exception": "no gateway", "result": None, "info": None, "transInfo": None}
    ]


@pytest.mark.parametrize("both", [True, False])
def test_an_action_result_has_exactly_one_of_exception_and_result(both: bool) -> None:
    with pytest.raises(ValueError):
        ActionResult("EMAIL", exception="x", result={"statusCode": 200}) if both else ActionResult("EMAIL")


def test_rule_event_author_is_at_most_256_characters() -> None:
    assert rule_event("a" * 256, "r", "n", None, [], AT, [])["author"] == "a" * 256
    with pytest.raises(ValueError):
        rule_event("a" * 257, "r", "n", None, [], AT, [])


# ------------------------------------------------------------------------------------ upgrades 1.6.7.15-1.6.7.18


def test_sw_upgrade_state_change_matches_the_table() -> None:
    payload = sw_upgrade_state_changed("dev-1", "app-1", "op-1", "sub-1", UpgradeState.DOWNLOADING)
    assert payload == {
        "notifyType": "swUpgradeStateChangeNotify",
        "deviceId": "dev-1",
        "appId": "app-1",
        "operationId": "op-1",
        "subOperationId": "sub-1",
        "swUpgradeState": "downloading",
    }


def test_upgrade_states_are_the_four_of_the_reference() -> None:
    assert {state.value for state in UpgradeState} == {"idle", "downloading", "downloaded", "updating"}
    with pytest.raises(ValueError):
        sw_upgrade_state_changed("d", "a", "o", "s", BOGUS)


def test_sw_upgrade_result_matches_the_table() -> None:
    payload = sw_upgrade_result(
        "dev-1",
        "app-1",
        "op-1",
        "sub-1",
        cur_version="1.3",
        target_version="1.5",
        source_version="1.0",
        result=UpgradeResult.FAIL,
        finished_at=AT,
        result_desc="upgrade failed",
        error_code="E42",
        description="battery low",
    )
    assert payload == {
        "notifyType": "swUpgradeResultNotify",
        "deviceId": "dev-1",
        "appId": "app-1",
        "operationId": "op-1",
        "subOperationId": "sub-1",
        "curVersion": "1.3",
        "targetVersion": "1.5",
        "sourceVersion": "1.0",
        "swUpgradeResult": "FAIL",
        "upgradeTime": "20151212T121212Z",
        "resultDesc": "upgrade failed",
        "errorCode": "E42",
        "description": "battery low",
    }


@pytest.mark.parametrize(
    ("state", "step"), [("idle", "0"), ("downloading", "1"), ("downloaded", "2"), ("updating", "3")]
)
def test_fw_upgrade_state_change_pairs_step_and_step_desc(state: str, step: str) -> None:
    payload = fw_upgrade_state_changed("dev-1", "app-1", "op-1", "sub-1", UpgradeState(state))
    assert payload == {
        "notifyType": "fwUpgradeStateChangeNotify",
        "deviceId": "dev-1",
        "appId": "app-1",
        "operationId": "op-1",
        "subOperationId": "sub-1",
        "step": step,
        "stepDesc": state,
    }


def test_fw_upgrade_state_change_refuses_another_state() -> None:
    with pytest.raises(ValueError):
        fw_upgrade_state_changed("d", "a", "o", "s", BOGUS)


def test_fw_upgrade_result_matches_the_table() -> None:
    payload = fw_upgrade_result(
        "dev-1",
        "app-1",
        "op-1",
        "sub-1",
        cur_version="1.6",
        target_version="1.6",
        source_version="1.3",
        result=UpgradeResult.SUCCESS,
        status_desc="The device upgrade is successful.",
        duration=timedelta(minutes=2, seconds=5, milliseconds=900),
    )
    assert payload == {
        "notifyType": "fwUpgradeResultNotify",
        "deviceId": "dev-1",
        "appId": "app-1",
        "operationId": "op-1",
        "subOperationId": "sub-1",
        "curVersion": "1.6",
        "targetVersion": "1.6",
        "sourceVersion": "1.3",
        "status": "SUCCESS",
        "statusDesc": "The device upgrade is successful.",
        "upgradeTime": "125",
    }


def test_upgrade_results_are_success_and_fail() -> None:
    assert {result.value for result in UpgradeResult} == {"SUCCESS", "FAIL"}
    with pytest.raises(ValueError):
        fw_upgrade_result(
            "d",
            "a",
            "o",
            "s",
            cur_version=None,
            target_version="2",
            source_version=None,
            result=cast(Any, "SUCCESSFUL"),
            status_desc="",
            duration=timedelta(0),
        )


def test_unknown_versions_are_null_but_present() -> None:
    payload = sw_upgrade_result(
        "d",
        "a",
        "o",
        "s",
        cur_version=None,
        target_version="2.0",
        source_version=None,
        result=UpgradeResult.SUCCESS,
        finished_at=AT,
        result_desc="ok",
        error_code=None,
        description=None,
    )
    assert set(payload) == TASK_KEYS | {
        "curVersion",
        "targetVersion",
        "sourceVersion",
        "swUpgradeResult",
        "upgradeTime",
        "resultDesc",
        "errorCode",
        "description",
    }
    assert payload["curVersion"] is None and payload["sourceVersion"] is None and payload["errorCode"] is None


# ------------------------------------------------------------------------------ SDK only: serviceInfoChanged


def test_service_info_changed_matches_the_table() -> None:
    payload = service_info_changed("dev-1", "gw-1", "Camera", "CameraType", ["VIDEO_RECORD"])
    assert payload == {
        "notifyType": "serviceInfoChanged",
        "deviceId": "dev-1",
        "gatewayId": "gw-1",
        "serviceId": "Camera",
        "serviceType": "CameraType",
        "serviceInfo": {"muteCmds": ["VIDEO_RECORD"]},
    }
    assert service_info_changed("d", "d", "s", "s", None)["serviceInfo"] == {"muteCmds": None}


# -------------------------------------------------------------------------------------- SDK only: deviceEvent


def test_device_event_matches_the_table() -> None:
    payload = notifications.device_event("alarm", "dev-1", "Battery", "BatteryType", AT, LATER, {"usedPercent": 80})
    assert payload == {
        "notifyType": "deviceEvent",
        "header": {
            "eventType": "alarm",
            "from": "/devices/dev-1/services/Battery",
            "timestamp": "20151212T121300Z",
            "eventTime": "20151212T121212Z",
            "deviceId": "dev-1",
            "serviceType": "BatteryType",
        },
        "body": {"usedPercent": 80},
    }
    assert set(payload["header"]) == HEADER_EVENT


def test_an_event_of_the_device_itself_comes_from_the_device() -> None:
    payload = notifications.device_event("reboot", "dev-1", None, "Device", AT, AT, {})
    assert payload["header"]["from"] == "/devices/dev-1"


def test_times_are_utc_in_the_reference_format() -> None:
    beijing = datetime(2015, 12, 13, 4, 12, 12, tzinfo=timezone(timedelta(hours=8)))
    payload = message_confirm("r", "d", "s", None, ConfirmStatus.SENT, beijing)
    assert payload["header"]["timestamp"] == "20151212T201212Z"
