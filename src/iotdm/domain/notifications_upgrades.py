"""Push payloads of software and firmware upgrades (§1.6.7.15-18): pure builders, arguments in, JSON-ready dicts out.

Their triggers are the upgrade operations (DECISIONS U1, U2); subscribers come from §1.6.2. Every documented key
is present (G3); all of them are strings in the reference, versions are None when the device never reported one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from iotdm.domain.notify_types import NotifyType
from iotdm.domain.times import format_time


class UpgradeState(StrEnum):
    """The device's progress (DECISIONS U2): ``swUpgradeState`` (L3938), and firmware's ``stepDesc`` (L4081)."""

    IDLE = "idle"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    UPDATING = "updating"


# Firmware's ``step`` for each state (L4080-4081).
FIRMWARE_STEPS: dict[UpgradeState, str] = {
    UpgradeState.IDLE: "0",
    UpgradeState.DOWNLOADING: "1",
    UpgradeState.DOWNLOADED: "2",
    UpgradeState.UPDATING: "3",
}


class UpgradeResult(StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


def _task(
    notify_type: NotifyType, device_id: str, app_id: str, operation_id: str, sub_operation_id: str
) -> dict[str, Any]:
    """The five fields every upgrade push starts with; ``appId`` is the app owning the device."""
    return {
        "notifyType": notify_type.value,
        "deviceId": device_id,
        "appId": app_id,
        "operationId": operation_id,
        "subOperationId": sub_operation_id,
    }


def sw_upgrade_state_changed(
    device_id: str, app_id: str, operation_id: str, sub_operation_id: str, state: UpgradeState
) -> dict[str, Any]:
    """§1.6.7.15 L3908."""
    return {
        **_task(NotifyType.SW_STATE_CHANGED, device_id, app_id, operation_id, sub_operation_id),
        "swUpgradeState": UpgradeState(state).value,
    }


def sw_upgrade_result(
    device_id: str,
    app_id: str,
    operation_id: str,
    sub_operation_id: str,
    *,
    cur_version: str | None,
    target_version: str,
    source_version: str | None,
    result: UpgradeResult,
    finished_at: datetime,
    result_desc: str,
    error_code: str | None,
    description: str | None,
) -> dict[str, Any]:
    """§1.6.7.16 L3971. ``upgradeTime`` is "the upgrade time" here: when the sub-operation finished.
    ``errorCode`` and ``description`` are the device's error and its cause, None when it reported none."""
    return {
        **_task(NotifyType.SW_RESULT, device_id, app_id, operation_id, sub_operation_id),
        "curVersion": cur_version,
        "targetVersion": target_version,
        "sourceVersion": source_version,
        "swUpgradeResult": UpgradeResult(result).value,
        "upgradeTime": format_time(finished_at),
        "resultDesc": result_desc,
        "errorCode": error_code,
        "description": description,
    }


def fw_upgrade_state_changed(
    device_id: str, app_id: str, operation_id: str, sub_operation_id: str, state: UpgradeState
) -> dict[str, Any]:
    """§1.6.7.17 L4049: ``step`` "0".."3" with its ``stepDesc``."""
    state = UpgradeState(state)
    return {
        **_task(NotifyType.FW_STATE_CHANGED, device_id, app_id, operation_id, sub_operation_id),
        "step": FIRMWARE_STEPS[state],
        "stepDesc": state.value,
    }


def fw_upgrade_result(
    device_id: str,
    app_id: str,
    operation_id: str,
    sub_operation_id: str,
    *,
    cur_version: str | None,
    target_version: str,
    source_version: str | None,
    result: UpgradeResult,
    status_desc: str,
    duration: timedelta,
) -> dict[str, Any]:
    """§1.6.7.18 L4119. Unlike software's, ``upgradeTime`` is "the firmware upgrade duration" (L4154): whole
    seconds, as a string like every field here."""
    return {
        **_task(NotifyType.FW_RESULT, device_id, app_id, operation_id, sub_operation_id),
        "curVersion": cur_version,
        "targetVersion": target_version,
        "sourceVersion": source_version,
        "status": UpgradeResult(result).value,
        "statusDesc": status_desc,
        "upgradeTime": str(int(duration.total_seconds())),
    }
