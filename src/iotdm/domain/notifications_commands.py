"""Push payloads about commands (§1.6.7.10-12, SDK §2.3.5.6): pure builders, arguments in, JSON-ready dicts out.

Their triggers are the command flows (DECISIONS C1, C4, C6); every documented key is present (G3).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from iotdm.domain.notifications import address
from iotdm.domain.notify_types import NotifyType
from iotdm.domain.times import format_time


class ConfirmStatus(StrEnum):
    """messageConfirm ``header.status`` (L3573)."""

    SENT = "sent"
    DELIVERED = "delivered"
    EXECUTED = "executed"


class CommandResultCode(StrEnum):
    """1.6.7.12 ``result.resultCode``: the DECISIONS C1 statuses a command can move to after its creation (C4).
    ``PENDING`` is where every command starts, so no change ever leads to it."""

    SENT = "SENT"
    DELIVERED = "DELIVERED"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    EXPIRED = "EXPIRED"
    CANCELED = "CANCELED"


def message_confirm(
    request_id: str,
    device_id: str,
    service_id: str,
    to: str | None,
    status: ConfirmStatus,
    at: datetime,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """§1.6.7.10 L3538: the device acknowledged a §1.7.7 command sent with ``mode: ACK`` (DECISIONS C6).

    ``to`` is the ``from`` of the command's header (optional there, so possibly None); ``at`` is when the
    acknowledgment arrived. A bare acknowledgment carries the empty object, as the reference's example does.
    """
    return {
        "notifyType": NotifyType.MESSAGE_CONFIRM.value,
        "header": {
            "requestId": request_id,
            "from": address(device_id, service_id),
            "to": to,
            "status": ConfirmStatus(status).value,
            "timestamp": format_time(at),
        },
        "body": {} if body is None else body,
    }


def command_rsp(
    request_id: str,
    device_id: str,
    service_id: str,
    service_type: str,
    to: str | None,
    method: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """§1.6.7.11 L3612: the device's ``deviceRsp`` to a §1.7.7 command (DECISIONS C2, C6).

    ``method`` is the command's own ``header.method``, as the reference's example shows (``MUTE_COMMANDS``),
    rather than a made-up response name (the table's ``INVITE-RSP``), so the app can match it to its request.
    """
    return {
        "notifyType": NotifyType.COMMAND_RSP.value,
        "header": {
            "requestId": request_id,
            "from": address(device_id, service_id),
            "to": to,
            "deviceId": device_id,
            "serviceType": service_type,
            "method": method,
        },
        "body": body,
    }


def command_status_changed(
    device_id: str, command_id: str, status: CommandResultCode, detail: dict[str, Any] | None
) -> dict[str, Any]:
    """§1.6.7.12 L3690: POSTed to the command's own callbackUrl; no notifyType, no subscription (DECISIONS C4).
    ``detail`` is the device's answer body for SUCCESSFUL/FAILED, else None (the example's ``null``)."""
    return {
        "deviceId": device_id,
        "commandId": command_id,
        "result": {"resultCode": CommandResultCode(status).value, "resultDetail": detail},
    }


def service_info_changed(
    device_id: str, gateway_id: str, service_id: str, service_type: str, mute_cmds: list[str] | None
) -> dict[str, Any]:
    """SDK §2.3.5.6 L8986: a command changed the service's masked commands. ``muteCmds`` is a list, as its table
    types it (List<String>), not the example's bare string (digest §7.16)."""
    return {
        "notifyType": NotifyType.SERVICE_INFO_CHANGED.value,
        "deviceId": device_id,
        "gatewayId": gateway_id,
        "serviceId": service_id,
        "serviceType": service_type,
        "serviceInfo": {"muteCmds": mute_cmds},
    }
