"""Device vocabulary and rules of §1.4–1.5: statuses, node types, the DeviceInfo shape, input checks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from iotdm.domain.times import format_time


class NodeType(StrEnum):
    ENDPOINT = "ENDPOINT"
    GATEWAY = "GATEWAY"
    UNKNOWN = "UNKNOWN"


class Status(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    INACTIVE = "INACTIVE"
    ABNORMAL = "ABNORMAL"


# DeviceInfoQueryDTO (§1.5.1 L1565-1593): reference field name -> devices column. isSecurity is derived.
INFO_COLUMNS: tuple[tuple[str, str], ...] = (
    ("nodeId", "node_id"),
    ("name", "name"),
    ("description", "description"),
    ("manufacturerId", "manufacturer_id"),
    ("manufacturerName", "manufacturer_name"),
    ("mac", "mac"),
    ("location", "location"),
    ("deviceType", "device_type"),
    ("model", "model"),
    ("swVersion", "sw_version"),
    ("fwVersion", "fw_version"),
    ("hwVersion", "hw_version"),
    ("imsi", "imsi"),
    ("protocolType", "protocol_type"),
    ("radiusIp", "radius_ip"),
    ("bridgeId", "bridge_id"),
    ("status", "status"),
    ("statusDetail", "status_detail"),
    ("mute", "mute"),
    ("supportedSecurity", "supported_security"),
    ("signalStrength", "signal_strength"),
    ("sigVersion", "sig_version"),
    ("serialNumber", "serial_number"),
    ("batteryLevel", "battery_level"),
)

# Fields the shadow's (§1.4.9) and the pushes' (§1.6.7.1) DeviceInfo leave out of DeviceInfoQueryDTO.
QUERY_ONLY_FIELDS = frozenset({"imsi", "radiusIp"})

# §1.4.4 body field -> devices column, for the plain string attributes.
MODIFIABLE_COLUMNS: dict[str, str] = {
    "name": "name",
    "deviceType": "device_type",
    "endUser": "end_user",
    "location": "location",
    "productId": "product_id",
    "manufacturerId": "manufacturer_id",
    "manufacturerName": "manufacturer_name",
    "model": "model",
    "mute": "mute",
    "organization": "organization",
    "region": "region",
    "protocolType": "protocol_type",
    "timezone": "timezone",
    "imsi": "imsi",
    "ip": "ip",
}

# deviceInfo keys accepted at registration (§1.4.1 DeviceInfoDTO, §1.4.2 DeviceInfo) -> devices column.
REGISTRATION_INFO_COLUMNS: dict[str, str] = {
    "manufacturerId": "manufacturer_id",
    "manufacturerName": "manufacturer_name",
    "deviceType": "device_type",
    "model": "model",
    "protocolType": "protocol_type",
    "name": "name",
}

# A stored device or service: any mapping of column names to values (a database row in practice).
Row = Mapping[Any, Any]

MUTE_VALUES = frozenset({"TRUE", "FALSE"})
_HEX = re.compile(r"[0-9A-Fa-f]+")


def model_key(row: Row) -> str:
    """A device's product-model key: manufacturerId/manufacturerName/deviceType/model/protocolType (D6, M3)."""
    columns = ("manufacturer_id", "manufacturer_name", "device_type", "model", "protocol_type")
    return "/".join(str(row[column] or "") for column in columns)


def is_valid_psk(psk: str) -> bool:
    """psk: String(8-32) of hex digits (§1.4.1 L676)."""
    return 8 <= len(psk) <= 32 and _HEX.fullmatch(psk) is not None


def security_flag(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def device_info(row: Row, *, with_imsi: bool = True, full: bool = True) -> dict[str, Any]:
    """The DeviceInfo object of a device row, every documented key present (DECISIONS G3).

    ``full`` is the query shape (DeviceInfoQueryDTO); otherwise the shadow/push shape without imsi, radiusIp.
    """
    info: dict[str, Any] = {}
    for field, column in INFO_COLUMNS:
        if not full and field in QUERY_ONLY_FIELDS:
            continue
        info[field] = row[column]
        if field == "supportedSecurity":
            info["isSecurity"] = security_flag(bool(row["is_secure"]))
    if not with_imsi and "imsi" in info:
        info["imsi"] = None
    return info


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time(datetime.fromtimestamp(ms / 1000, UTC))


def device_view(row: Row, services: Sequence[Row], *, with_imsi: bool) -> dict[str, Any]:
    """QueryDeviceDTO4Cloud2NA (§1.5.1 L1540): one device with the latest data of its services."""
    return {
        "deviceId": row["device_id"],
        "gatewayId": row["gateway_id"],
        "nodeType": row["node_type"],
        "createTime": _time(row["created_at"]),
        "lastModifiedTime": _time(row["modified_at"]),
        "deviceInfo": device_info(row, with_imsi=with_imsi),
        "services": [
            {
                "serviceId": service["service_id"],
                "serviceType": service["service_type"],
                "serviceInfo": None,
                "data": service["data"],
                "eventTime": _time(service["event_time"]),
            }
            for service in services
            if service["data"] is not None
        ],
        "alarmInfo": None,
    }


def shadow_view(row: Row, services: Sequence[Row]) -> dict[str, Any]:
    """§1.4.9 L1398: the device shadow, reported and desired properties per service."""
    return {
        "deviceId": row["device_id"],
        "gatewayId": row["gateway_id"],
        "nodeType": row["node_type"],
        "createTime": _time(row["created_at"]),
        "lastModifiedTime": _time(row["modified_at"]),
        "deviceInfo": device_info(row, full=False),
        "services": [
            {
                "serviceId": service["service_id"],
                "reportedProps": service["data"],
                "desiredProps": service["desired"],
                "eventTime": _time(service["event_time"]),
                "serviceType": service["service_type"],
            }
            for service in services
        ],
    }
