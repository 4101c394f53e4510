"""§1.4 Device management: registration, key refresh, modification, deletion, activation, shadow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from iotdm.domain.devices import MODIFIABLE_COLUMNS, REGISTRATION_INFO_COLUMNS
from iotdm.domain.errors import E
from iotdm.northbound.deps import Svc, TargetApp
from iotdm.northbound.dto.devices import (
    ActivationOut,
    ModifyDeviceIn,
    ModifyShadowIn,
    RefreshKeyIn,
    RefreshKeyOut,
    RegisterV1In,
    RegisterV1Out,
    RegisterV2In,
    RegisterV2Out,
)
from iotdm.northbound.dto.queries import ShadowOut
from iotdm.northbound.responses import empty, json_body
from iotdm.northbound.validation import on_invalid
from iotdm.services.registry import Registration

router = APIRouter(tags=["1.4 Device management"])

_DEVICE_PATH = "/iocm/app/dm/v1.4.0/devices/{deviceId}"
_CREDENTIALS_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials/{deviceId}"
_SHADOW_PATH = "/iocm/app/shadow/v1.5.0/devices/{deviceId}"


def _info_columns(body: RegisterV1In | RegisterV2In) -> dict[str, str | None]:
    if body.deviceInfo is None:
        return {}
    given = body.deviceInfo.model_dump()
    return {column: given[field] for field, column in REGISTRATION_INFO_COLUMNS.items()}


@router.post("/iocm/app/reg/v1.1.0/deviceCredentials", responses={200: {"model": RegisterV1Out}})
@on_invalid(E.INPUT_INVALID_50400)
async def register_v1(body: RegisterV1In, app_id: TargetApp, svc: Svc) -> Response:
    """§1.4.1 L646: register a device in verification-code mode."""
    assert body.node_id is not None
    reg = Registration(
        node_id=body.node_id,
        info={**_info_columns(body), "imsi": body.imsi},
        attrs={"end_user": body.endUserId, "product_id": body.productId},
        verify_code=body.verifyCode,
        psk=body.psk,
        timeout=body.timeout,
        is_secure=bool(body.isSecure),
    )
    done = await svc.registry.register(app_id, reg, password_mode=False)
    return json_body(
        {"deviceId": done.device_id, "verifyCode": done.verify_code, "timeout": done.timeout, "psk": done.psk}
    )


@router.post("/iocm/app/reg/v2.0.0/deviceCredentials", responses={200: {"model": RegisterV2Out}})
@on_invalid(E.INPUT_INVALID_50400)
async def register_v2(body: RegisterV2In, app_id: TargetApp, svc: Svc) -> Response:
    """§1.4.2 L782: register a device in password mode (MQTT devices with ``mqttConnect``)."""
    assert body.node_id is not None
    reg = Registration(
        node_id=body.node_id,
        info=_info_columns(body),
        attrs={
            "end_user": body.endUserId,
            "product_id": body.productId,
            "organization": body.organization,
            "region": body.region,
            "timezone": body.timezone,
        },
        secret=body.secret,
        mqtt_connect=bool(body.mqttConnect),
    )
    done = await svc.registry.register(app_id, reg, password_mode=True)
    return json_body({"deviceId": done.device_id, "psk": done.psk, "secret": done.secret})


@router.put(_CREDENTIALS_PATH, responses={200: {"model": RefreshKeyOut}})
@on_invalid(E.INPUT_INVALID_50400)
async def refresh_key(deviceId: str, app_id: TargetApp, svc: Svc, body: RefreshKeyIn | None = None) -> Response:
    """§1.4.3 L903: a new nodeId and/or verify code for a device that is not online."""
    body = body or RefreshKeyIn.model_validate({})
    verify_code, timeout = await svc.registry.refresh_key(app_id, deviceId, body.nodeId, body.verifyCode, body.timeout)
    return json_body({"verifyCode": verify_code, "timeout": timeout})


@router.get(_CREDENTIALS_PATH, responses={200: {"model": ActivationOut}})
async def activation_status(deviceId: str, app_id: TargetApp, svc: Svc) -> Response:
    """§1.4.7 L1206: whether the device has connected (and so been activated)."""
    return json_body(await svc.registry.activation(app_id, deviceId))


def _modified_columns(body: ModifyDeviceIn) -> dict[str, Any]:
    given = body.model_dump(exclude_none=True)
    values: dict[str, Any] = {column: given[field] for field, column in MODIFIABLE_COLUMNS.items() if field in given}
    if body.isSecure is not None:
        values["is_secure"] = body.isSecure
    if body.customFields is not None:
        values["custom_fields"] = given["customFields"]
    if body.tags is not None:
        values["tags"] = given["tags"]
    if body.deviceConfig and body.deviceConfig.dataConfig and body.deviceConfig.dataConfig.dataAgingTime is not None:
        values["data_aging_time"] = body.deviceConfig.dataConfig.dataAgingTime
    return values


@router.put(_DEVICE_PATH, status_code=204)
@on_invalid(E.INPUT_INVALID, isSecure=E.IS_SECURE_INVALID)
async def modify_device(deviceId: str, app_id: TargetApp, svc: Svc, body: ModifyDeviceIn | None = None) -> Response:
    """§1.4.4 L1006: change device information; emits deviceInfoChanged."""
    body = body or ModifyDeviceIn.model_validate({})
    await svc.registry.modify(app_id, deviceId, _modified_columns(body), psk=body.psk)
    return empty(204)


@router.delete(_DEVICE_PATH, status_code=204)
@on_invalid(E.INPUT_INVALID_50400)
async def delete_device(
    deviceId: str,
    app_id: TargetApp,
    svc: Svc,
    cascade: Annotated[bool, Query(description="Delete child devices too (default) or keep them.")] = True,
) -> Response:
    """§1.4.5 L1134: delete a device (and, with ``cascade``, its children); emits deviceDeleted."""
    await svc.registry.delete(app_id, deviceId, cascade)
    return empty(204)


@router.put(_SHADOW_PATH)
@on_invalid(E.INPUT_INVALID_50400)
async def modify_shadow(deviceId: str, body: ModifyShadowIn, app_id: TargetApp, svc: Svc) -> Response:
    """§1.4.8 L1278: set desired properties; recorded in desired history, delivered when reachable."""
    await svc.shadow.modify(app_id, deviceId, [(s.serviceId, s.desired) for s in body.serviceDesireds])
    return empty(200)


@router.get(_SHADOW_PATH, responses={200: {"model": ShadowOut}})
async def query_shadow(deviceId: str, app_id: TargetApp, svc: Svc) -> Response:
    """§1.4.9 L1376: reported and desired properties of every service."""
    return json_body(await svc.queries.shadow(app_id, deviceId))
