"""§1.4 device management request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator

from iotdm.domain.devices import MUTE_VALUES
from iotdm.northbound.dto.common import Integer, Psk, Str1To256, Str256, Timeout


class DeviceInfoIn(BaseModel):
    """DeviceInfoDTO (§1.4.1 L683) and DeviceInfo (§1.4.2 L818); nodeId accepted in both (D1)."""

    nodeId: Str1To256 | None = None
    manufacturerId: Str256 | None = None
    manufacturerName: Str256 | None = None
    deviceType: Str256 | None = None
    model: Str256 | None = None
    protocolType: Str256 | None = None
    name: Str256 | None = None


class _Registration(BaseModel):
    nodeId: Str1To256 | None = None
    endUserId: Str256 | None = None
    productId: Str256 | None = None
    deviceInfo: DeviceInfoIn | None = None

    @model_validator(mode="after")
    def _identified(self) -> _Registration:
        if self.node_id is None:
            raise ValueError("nodeId is mandatory (top level or inside deviceInfo)")
        if self.deviceInfo is not None and self.productId is None and not self.deviceInfo.model:
            raise ValueError("deviceInfo.model is mandatory unless productId is given")
        return self

    @property
    def node_id(self) -> str | None:
        return self.nodeId or (self.deviceInfo.nodeId if self.deviceInfo else None)


class RegisterV1In(_Registration):
    """§1.4.1 L646."""

    verifyCode: Str256 | None = None
    timeout: Timeout | None = None
    psk: Psk | None = None
    imsi: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    isSecure: bool | None = None


class RegisterV1Out(BaseModel):
    deviceId: str
    verifyCode: str
    timeout: int
    psk: str


class RegisterV2In(_Registration):
    """§1.4.2 L782."""

    organization: Str256 | None = None
    region: Str256 | None = None
    timezone: Str256 | None = None
    mqttConnect: bool | None = None
    secret: Str256 | None = None


class RegisterV2Out(BaseModel):
    deviceId: str
    psk: str
    secret: str


class RefreshKeyIn(BaseModel):
    """§1.4.3 L903."""

    nodeId: Str1To256 | None = None
    timeout: Timeout | None = None
    verifyCode: Str256 | None = Field(None, description="Generated when absent or empty.")


class RefreshKeyOut(BaseModel):
    verifyCode: str
    timeout: int


class CustomField(BaseModel):
    fieldName: Str256 | None = None
    fieldType: Str256 | None = None
    fieldValue: Any = None


class Tag(BaseModel):
    tagName: Annotated[str, Field(min_length=1, max_length=128)]
    tagValue: Annotated[str, Field(min_length=1, max_length=1024)]
    tagType: Integer | None = None


class DataConfig(BaseModel):
    dataAgingTime: Annotated[Integer, Field(ge=0, le=90, description="Days.")] | None = None


class DeviceConfig(BaseModel):
    dataConfig: DataConfig | None = None


class ModifyDeviceIn(BaseModel):
    """§1.4.4 L1006: every field optional; absent (or null) fields keep their value."""

    customFields: list[CustomField] | None = None
    deviceConfig: DeviceConfig | None = None
    deviceType: Str1To256 | None = None
    endUser: Str1To256 | None = None
    location: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    productId: Str256 | None = None
    manufacturerId: Str1To256 | None = None
    manufacturerName: Str1To256 | None = None
    model: Str1To256 | None = None
    mute: Str1To256 | None = Field(None, description='"TRUE" (frozen) or "FALSE".')
    name: Str1To256 | None = None
    organization: Str1To256 | None = None
    region: Str1To256 | None = None
    protocolType: Str1To256 | None = None
    timezone: Str1To256 | None = None
    imsi: Annotated[str, Field(max_length=64)] | None = None
    ip: Annotated[str, Field(max_length=128)] | None = None
    isSecure: bool | None = None
    psk: Psk | None = None
    tags: list[Tag] | None = None

    @field_validator("mute")
    @classmethod
    def _mute(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in MUTE_VALUES:
            raise ValueError("mute is TRUE or FALSE")
        return value.upper() if value is not None else None


class ActivationOut(BaseModel):
    """§1.4.7 L1206."""

    deviceId: str
    activated: bool
    name: str | None


class ServiceDesired(BaseModel):
    serviceId: Str1To256
    desired: dict[str, Any]


class ModifyShadowIn(BaseModel):
    """§1.4.8 L1278; the key is ``serviceDesireds``, ``serviceDesires`` accepted too (D4)."""

    serviceDesireds: list[ServiceDesired] = Field(
        min_length=1, validation_alias=AliasChoices("serviceDesireds", "serviceDesires")
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # The first alias present wins, so an explicit null under one spelling would hide the list under the
        # other; null means absent (G8).
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data
