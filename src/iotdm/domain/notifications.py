"""notifyType vocabulary and the payload builders of §1.6.7 (pure: rows in, JSON-ready dicts out)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from iotdm.domain.devices import Row, device_info
from iotdm.domain.notify_types import NotifyType
from iotdm.domain.times import format_time


class BindResult(StrEnum):
    SUCCEEDED = "succeeded"
    EXPIRED = "expired"


def device_added(row: Row) -> dict[str, Any]:
    """§1.6.7.1 L2798."""
    return {
        "notifyType": NotifyType.DEVICE_ADDED.value,
        "deviceId": row["device_id"],
        "gatewayId": row["gateway_id"],
        "nodeType": row["node_type"],
        "deviceInfo": device_info(row, full=False),
    }


def bind_device(row: Row, result: BindResult) -> dict[str, Any]:
    """§1.6.7.2 L2917."""
    return {
        "notifyType": NotifyType.BIND_DEVICE.value,
        "deviceId": row["device_id"],
        "resultCode": result.value,
        "deviceInfo": device_info(row, full=False),
    }


def device_info_changed(row: Row) -> dict[str, Any]:
    """§1.6.7.3 L3027: the full DeviceInfo snapshot after the change."""
    return {
        "notifyType": NotifyType.DEVICE_INFO_CHANGED.value,
        "deviceId": row["device_id"],
        "gatewayId": row["gateway_id"],
        "deviceInfo": device_info(row, full=False),
    }


def device_deleted(row: Row) -> dict[str, Any]:
    """§1.6.7.9 L3485."""
    return {
        "notifyType": NotifyType.DEVICE_DELETED.value,
        "deviceId": row["device_id"],
        "gatewayId": row["gateway_id"],
    }


def service_data(service_id: str, service_type: str, data: dict[str, Any], event_time: str) -> dict[str, Any]:
    """DeviceServiceData (§1.6.7.4 L3160)."""
    return {"serviceId": service_id, "serviceType": service_type, "data": data, "eventTime": event_time}


def device_data_changed(device_id: str, gateway_id: str, service: dict[str, Any]) -> dict[str, Any]:
    """§1.6.7.4 L3132: one service of a report (DECISIONS S4)."""
    return {
        "notifyType": NotifyType.DEVICE_DATA_CHANGED.value,
        "requestId": None,
        "deviceId": device_id,
        "gatewayId": gateway_id,
        "service": service,
    }


def device_datas_changed(
    request_id: str, device_id: str, gateway_id: str, services: list[dict[str, Any]]
) -> dict[str, Any]:
    """§1.6.7.5 L3209: the whole report, key ``services`` (DECISIONS S4)."""
    return {
        "notifyType": NotifyType.DEVICE_DATAS_CHANGED.value,
        "requestId": request_id,
        "deviceId": device_id,
        "gatewayId": gateway_id,
        "services": services,
    }


def desired_status_changed(device_id: str, service_id: str, properties: dict[str, Any], status: str) -> dict[str, Any]:
    """§1.6.7.14 L3847: the outcome of delivering a shadow change, ``DELIVERED`` or ``FAILED`` (DECISIONS D4)."""
    return {
        "notifyType": NotifyType.DESIRED_STATUS_CHANGED.value,
        "deviceId": device_id,
        "serviceId": service_id,
        "properties": properties,
        "status": status,
    }


def address(device_id: str, service_id: str | None = None) -> str:
    """A message header's ``from`` (§1.6.7.10 L3572): the device, or one of its services."""
    return f"/devices/{device_id}" if service_id is None else f"/devices/{device_id}/services/{service_id}"


def device_event(
    event_type: str,
    device_id: str,
    service_id: str | None,
    service_type: str,
    event_time: datetime,
    received_at: datetime,
    body: dict[str, Any],
) -> dict[str, Any]:
    """SDK §2.3.5.10 L9270: an event the device reported; ``timestamp`` is when the platform received it."""
    return {
        "notifyType": NotifyType.DEVICE_EVENT.value,
        "header": {
            "eventType": event_type,
            "from": address(device_id, service_id),
            "timestamp": format_time(received_at),
            "eventTime": format_time(event_time),
            "deviceId": device_id,
            "serviceType": service_type,
        },
        "body": body,
    }
