"""Every notifyType of the reference: chapter 1's (§1.6.7) and the SDK chapters' (DECISIONS S2)."""

from __future__ import annotations

from enum import StrEnum


class NotifyType(StrEnum):
    DEVICE_ADDED = "deviceAdded"
    BIND_DEVICE = "bindDevice"
    DEVICE_INFO_CHANGED = "deviceInfoChanged"
    DEVICE_DATA_CHANGED = "deviceDataChanged"
    DEVICE_DATAS_CHANGED = "deviceDatasChanged"
    CAPABILITIES_CHANGED = "deviceCapabilitiesChanged"
    CAPABILITIES_ADDED = "deviceCapabilitiesAdded"
    CAPABILITIES_DELETED = "deviceCapabilitiesDeleted"
    DEVICE_DELETED = "deviceDeleted"
    MESSAGE_CONFIRM = "messageConfirm"
    COMMAND_RSP = "commandRsp"
    RULE_EVENT = "ruleEvent"
    DESIRED_STATUS_CHANGED = "deviceDesiredPropertiesModifyStatusChanged"
    SW_STATE_CHANGED = "swUpgradeStateChangeNotify"
    SW_RESULT = "swUpgradeResultNotify"
    FW_STATE_CHANGED = "fwUpgradeStateChangeNotify"
    FW_RESULT = "fwUpgradeResultNotify"
    # The SDK chapters' vocabulary only.
    DEVICE_EVENT = "deviceEvent"
    SERVICE_INFO_CHANGED = "serviceInfoChanged"
    MODEL_ADDED = "deviceModelAdded"
    MODEL_DELETED = "deviceModelDeleted"
