"""Device data reports (chapter 8 L25131, DECISIONS G2, D5): parsing and validating a ``deviceReq`` message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from iotdm.domain.times import parse_event_time

MAX_SERVICE_ID = 256


class InvalidReport(ValueError):
    """The message is not a valid report; the device is still acknowledged so that it does not resend it."""


@dataclass(frozen=True, slots=True)
class ServiceData:
    service_id: str
    data: dict[str, Any]
    event_time: int | None  # epoch ms of a valid eventTime, else None (= receive time)


def parse_message(payload: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidReport("payload is not JSON") from exc
    if not isinstance(message, dict):
        raise InvalidReport("payload is not a JSON object")
    return message


def parse_report(message: dict[str, Any]) -> list[ServiceData]:
    """The services of a ``{"msgType": "deviceReq", "data": [...]}`` message, validated."""
    data = message.get("data")
    if not isinstance(data, list) or not data:
        raise InvalidReport("data must be a non-empty list")
    services: list[ServiceData] = []
    for entry in data:
        if not isinstance(entry, dict):
            raise InvalidReport("each data entry must be an object")
        service_id = entry.get("serviceId")
        service_data = entry.get("serviceData")
        if not isinstance(service_id, str) or not 0 < len(service_id) <= MAX_SERVICE_ID:
            raise InvalidReport("serviceId must be a string of 1-256 characters")
        if not isinstance(service_data, dict):
            raise InvalidReport("serviceData must be an object")
        moment = parse_event_time(entry.get("eventTime"))
        event_ms = None if moment is None else int(moment.timestamp() * 1000)
        services.append(ServiceData(service_id, service_data, event_ms))
    return services


def parse_answer(message: dict[str, Any]) -> tuple[int, int, Any]:
    """(mid, errcode, body) of a ``{"msgType": "deviceRsp", "mid": ..., "errcode": ..., "body": {...}}`` (C2)."""
    mid = message.get("mid")
    errcode = message.get("errcode")
    if not isinstance(mid, int) or isinstance(mid, bool) or not 1 <= mid <= 65535:
        raise InvalidReport("mid must be an integer 1-65535")
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        raise InvalidReport("errcode must be an integer")
    return mid, errcode, message.get("body")
