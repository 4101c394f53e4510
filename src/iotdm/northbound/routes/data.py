"""§1.5 Data collection: querying one device, devices in batches, data history and shadow desired history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from iotdm.domain.devices import NodeType, Status
from iotdm.domain.errors import E, PlatformError
from iotdm.domain.times import parse_time
from iotdm.northbound.deps import Svc, TargetApp
from iotdm.northbound.dto.queries import (
    DeviceCapabilitiesOut,
    DeviceDataHistoryPageOut,
    DeviceDesiredHistoryPageOut,
    DeviceOut,
    DevicesPageOut,
)
from iotdm.northbound.responses import json_body
from iotdm.northbound.validation import on_invalid
from iotdm.services.clock import from_datetime
from iotdm.store.devices import DeviceFilter
from iotdm.store.history import HistoryFilter

router = APIRouter(tags=["1.5 Data collection"])

_SELECT_DOC = "IMSI: include deviceInfo.imsi."
_LONG_MAX = 2**63 - 1  # pageNo is a Java Long in the reference; beyond it answer 100216, not a 500


def _wants_imsi(select: str | None) -> bool:
    """``select`` takes the one value IMSI, in any case (the example sends ``imsi``)."""
    if select is None:
        return False
    if select.upper() != "IMSI":
        raise PlatformError(E.PARAMETER_INVALID)
    return True


def _choice(value: str | None, allowed: type[NodeType] | type[Status]) -> str | None:
    if value is not None and value not in allowed.__members__:
        raise PlatformError(E.PARAMETER_INVALID)
    return value


def _time_ms(value: str | None, invalid: E = E.PARAMETER_INVALID) -> int | None:
    if value is None:
        return None
    try:
        return from_datetime(parse_time(value))
    except ValueError as exc:
        raise PlatformError(invalid) from exc


@router.get("/iocm/app/dm/v1.4.0/devices/{deviceId}", responses={200: {"model": DeviceOut}})
@on_invalid(E.PARAMETER_INVALID)
async def query_device(
    deviceId: str,
    app_id: TargetApp,
    svc: Svc,
    select: Annotated[str | None, Query(description=_SELECT_DOC)] = None,
) -> Response:
    """§1.5.1 L1519: one device with the latest data of its services."""
    return json_body(await svc.queries.one(app_id, deviceId, with_imsi=_wants_imsi(select)))


@router.get("/iocm/app/dm/v1.4.0/devices", responses={200: {"model": DevicesPageOut}})
@on_invalid(E.PARAMETER_INVALID, pageNo=E.APP_INPUT_INVALID, pageSize=E.APP_INPUT_INVALID)
async def query_devices(
    app_id: TargetApp,
    svc: Svc,
    gatewayId: str | None = None,
    nodeType: Annotated[str | None, Query(description="ENDPOINT, GATEWAY or UNKNOWN.")] = None,
    deviceType: str | None = None,
    location: str | None = None,
    name: str | None = None,
    pageNo: Annotated[int | None, Query(ge=0, le=_LONG_MAX, description="Default 0.")] = None,
    pageSize: Annotated[int, Query(ge=1, le=250)] = 25,
    status: Annotated[str | None, Query(description="ONLINE, OFFLINE, INACTIVE or ABNORMAL.")] = None,
    startTime: Annotated[str | None, Query(description="Registered at or after (yyyyMMdd'T'HHmmss'Z').")] = None,
    endTime: Annotated[str | None, Query(description="Registered before (yyyyMMdd'T'HHmmss'Z').")] = None,
    sort: Annotated[str | None, Query(description="ASC or DESC by registration time; default DESC.")] = None,
    select: Annotated[str | None, Query(description=_SELECT_DOC)] = None,
) -> Response:
    """§1.5.2 L1696: devices of the app matching every given filter, a page at a time."""
    if gatewayId is None and pageNo is None:
        raise PlatformError(E.GATEWAY_AND_PAGE_NULL)
    if sort is not None and sort.upper() not in ("ASC", "DESC"):
        raise PlatformError(E.PARAMETER_INVALID)
    with_imsi = _wants_imsi(select)
    page_no = pageNo or 0
    f = DeviceFilter(
        app_id=app_id,
        gateway_id=gatewayId,
        node_type=_choice(nodeType, NodeType),
        device_type=deviceType,
        location=location,
        name=name,
        status=_choice(status, Status),
        created_from=_time_ms(startTime),
        created_before=_time_ms(endTime),
        ascending=sort is not None and sort.upper() == "ASC",
    )
    page = await svc.queries.page(f, page_no, pageSize, with_imsi=with_imsi)
    return json_body({"totalCount": page.total, "pageNo": page_no, "pageSize": pageSize, "devices": page.devices})


_HISTORY_START_DOC = "Recorded at or after (yyyyMMdd'T'HHmmss'Z')."
_HISTORY_END_DOC = "Recorded before (yyyyMMdd'T'HHmmss'Z')."
_PROPERTY_DOC = "Only records that contain this property."


def _history_filter(
    app_id: str,
    device_id: str | None,
    gateway_id: str | None,
    service_id: str | None,
    prop: str | None,
    start_time: str | None,
    end_time: str | None,
) -> HistoryFilter:
    """The history APIs answer a malformed time with their one invalid-input code, 100216."""
    return HistoryFilter(
        app_id=app_id,
        device_id=device_id,
        gateway_id=gateway_id,
        service_id=service_id,
        property=prop,
        from_ms=_time_ms(start_time, E.APP_INPUT_INVALID),
        before_ms=_time_ms(end_time, E.APP_INPUT_INVALID),
    )


@router.get("/iocm/app/data/v1.2.0/deviceDataHistory", responses={200: {"model": DeviceDataHistoryPageOut}})
@on_invalid(E.APP_INPUT_INVALID)
async def device_data_history(
    app_id: TargetApp,
    svc: Svc,
    deviceId: str | None = None,
    gatewayId: Annotated[str | None, Query(description="Alone: every device under this gateway.")] = None,
    serviceId: str | None = None,
    property: Annotated[str | None, Query(description=_PROPERTY_DOC)] = None,
    pageNo: Annotated[int, Query(ge=0, le=_LONG_MAX)] = 0,
    pageSize: Annotated[int, Query(ge=1, le=2000)] = 1,
    startTime: Annotated[str | None, Query(description=_HISTORY_START_DOC)] = None,
    endTime: Annotated[str | None, Query(description=_HISTORY_END_DOC)] = None,
) -> Response:
    """§1.5.3 L1932: data reported by a device (or the devices under a gateway), newest first."""
    f = _history_filter(app_id, deviceId, gatewayId, serviceId, property, startTime, endTime)
    page = await svc.history.data(f, pageNo, pageSize)
    return json_body(
        {"totalCount": page.total, "pageNo": pageNo, "pageSize": pageSize, "deviceDataHistoryDTOs": page.records}
    )


@router.get("/iocm/app/shadow/v1.5.0/deviceDesiredHistory", responses={200: {"model": DeviceDesiredHistoryPageOut}})
@on_invalid(E.APP_INPUT_INVALID)
async def device_desired_history(
    app_id: TargetApp,
    svc: Svc,
    deviceId: str | None = None,
    gatewayId: Annotated[str | None, Query(description="Alone: every device under this gateway.")] = None,
    serviceId: str | None = None,
    property: Annotated[str | None, Query(description=_PROPERTY_DOC)] = None,
    pageNo: Annotated[int, Query(ge=0, le=_LONG_MAX)] = 0,
    pageSize: Annotated[int, Query(ge=1, le=250)] = 25,
    startTime: Annotated[str | None, Query(description=_HISTORY_START_DOC)] = None,
    endTime: Annotated[str | None, Query(description=_HISTORY_END_DOC)] = None,
) -> Response:
    """§1.5.4 L2042: desired-property changes of a device shadow (or of the devices under a gateway), newest
    first."""
    f = _history_filter(app_id, deviceId, gatewayId, serviceId, property, startTime, endTime)
    page = await svc.history.desired(f, pageNo, pageSize)
    return json_body(
        {"totalCount": page.total, "pageNo": pageNo, "pageSize": pageSize, "DeviceDesiredHistoryDTO": page.records}
    )


@router.get("/iocm/app/data/v1.1.0/deviceCapabilities", responses={200: {"model": DeviceCapabilitiesOut}})
@on_invalid(E.INPUT_INVALID)
async def device_capabilities(
    app_id: TargetApp,
    svc: Svc,
    gatewayId: Annotated[str | None, Query(description="The gateway and the devices under it.")] = None,
    deviceId: str | None = None,
) -> Response:
    """§1.5.5 L2153: the service capabilities of the device's profile (of every device of the app when neither id
    is given). An unknown device gives an empty list: the API has no "not found" error."""
    return json_body({"deviceCapabilities": await svc.profiles.capabilities(app_id, deviceId, gatewayId)})
