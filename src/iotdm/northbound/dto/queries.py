"""§1.4.9 and §1.5.1–1.5.4 response bodies (documentation: handlers build them from domain views)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class DeviceInfoOut(BaseModel):
    """DeviceInfoQueryDTO (§1.5.1 L1565); the shadow's DeviceInfo lacks imsi and radiusIp."""

    nodeId: str
    name: str | None
    description: str | None
    manufacturerId: str | None
    manufacturerName: str | None
    mac: str | None
    location: str | None
    deviceType: str | None
    model: str | None
    swVersion: str | None
    fwVersion: str | None
    hwVersion: str | None
    imsi: str | None = None
    protocolType: str | None
    radiusIp: str | None = None
    bridgeId: str | None
    status: str
    statusDetail: str
    mute: str
    supportedSecurity: str | None
    isSecurity: str
    signalStrength: str | None
    sigVersion: str | None
    serialNumber: str | None
    batteryLevel: str | None


class ServiceInfo(BaseModel):
    muteCmds: list[str] | None


class DeviceServiceOut(BaseModel):
    serviceId: str
    serviceType: str | None
    serviceInfo: ServiceInfo | None
    data: dict[str, Any] | None
    eventTime: str | None


class AlarmInfo(BaseModel):
    alarmSeverity: str | None
    alarmStatus: bool | None
    alarmTime: str | None


class DeviceOut(BaseModel):
    """QueryDeviceDTO4Cloud2NA (§1.5.1 L1540)."""

    deviceId: str
    gatewayId: str
    nodeType: str
    createTime: str
    lastModifiedTime: str
    deviceInfo: DeviceInfoOut
    services: list[DeviceServiceOut]
    alarmInfo: AlarmInfo | None


class DevicesPageOut(BaseModel):
    """§1.5.2 L1760."""

    totalCount: int
    pageNo: int
    pageSize: int
    devices: list[DeviceOut]


class ShadowServiceOut(BaseModel):
    serviceId: str
    reportedProps: dict[str, Any] | None
    desiredProps: dict[str, Any] | None
    eventTime: str | None
    serviceType: str | None


class ShadowOut(BaseModel):
    """§1.4.9 L1398."""

    deviceId: str
    gatewayId: str
    nodeType: str
    createTime: str
    lastModifiedTime: str
    deviceInfo: DeviceInfoOut
    services: list[ShadowServiceOut]


class DeviceDataHistoryOut(BaseModel):
    """DeviceDataHistoryDTO (§1.5.3 L1973)."""

    serviceId: str
    deviceId: str
    gatewayId: str
    appId: str
    data: dict[str, Any]
    timestamp: str


class DeviceDataHistoryPageOut(BaseModel):
    """§1.5.3 L1963."""

    totalCount: int
    pageNo: int
    pageSize: int
    deviceDataHistoryDTOs: list[DeviceDataHistoryOut]


class DeviceDesiredHistoryOut(BaseModel):
    """DeviceDesiredHistoryDTO (§1.5.4 L2085)."""

    serviceId: str
    deviceId: str
    gatewayId: str
    appId: str
    desired: dict[str, Any]
    timestamp: str


class DeviceDesiredHistoryPageOut(BaseModel):
    """§1.5.4 L2075; the list key is the type's name, capital D and all (DECISIONS D5)."""

    totalCount: int
    pageNo: int
    pageSize: int
    DeviceDesiredHistoryDTO: list[DeviceDesiredHistoryOut]


class ServiceCommandParaOut(BaseModel):
    """ServiceCommandPara (§1.5.5 L2206)."""

    paraName: str
    dataType: str
    required: bool
    min: str | None
    max: str | None
    step: float | None
    maxLength: int | None
    unit: str | None
    enumList: list[str] | None


class ServiceCommandResponseOut(BaseModel):
    """ServiceCommandResponse (§1.5.5 L2221)."""

    responseName: str
    paras: list[ServiceCommandParaOut]


class ServiceCommandOut(BaseModel):
    """ServiceCommand (§1.5.5 L2199)."""

    commandName: str
    paras: list[ServiceCommandParaOut]
    responses: list[ServiceCommandResponseOut]


class ServicePropertyOut(BaseModel):
    """ServiceProperty (§1.5.5 L2227); ``method`` combines R (read), W (write) and E (observe)."""

    propertyName: str
    dataType: str
    required: bool
    min: str | None
    max: str | None
    step: float | None
    maxLength: int | None
    method: str
    unit: str | None
    enumList: list[str] | None


class ServiceCapabilityOut(BaseModel):
    """ServiceCapabilityDTO (§1.5.5 L2189)."""

    serviceId: str
    serviceType: str
    option: str | None
    description: str | None
    commands: list[ServiceCommandOut]
    properties: list[ServicePropertyOut]


class DeviceCapabilityOut(BaseModel):
    """DeviceCapabilityDTO (§1.5.5 L2183); no profile, no service capabilities."""

    deviceId: str
    serviceCapabilities: list[ServiceCapabilityOut]


class DeviceCapabilitiesOut(BaseModel):
    """§1.5.5 L2181."""

    deviceCapabilities: list[DeviceCapabilityOut]
