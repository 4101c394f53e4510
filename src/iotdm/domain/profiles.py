"""Product models ("profiles", DECISIONS D6): the profile format of docs/profiles.md, its validation, the
§1.5.5 service capabilities, and the payloads of the profile notifications (§1.6.7.6-8, SDK §2.3.5.11-12).

Pure: JSON values in, frozen dataclasses and JSON-ready dicts out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iotdm.domain.devices import Row
from iotdm.domain.errors import E, PlatformError
from iotdm.domain.notify_types import NotifyType

NAME_MAX = 256  # String(256) in the §1.5.5 tables
DESCRIPTION_MAX = 10240

# Huawei-style profile data types plus boolean; matched in any case, kept in this spelling.
DATA_TYPES = ("int", "long", "decimal", "string", "DateTime", "jsonObject", "boolean")
_DATA_TYPES = {name.lower(): name for name in DATA_TYPES}
_INTEGER_TYPES = frozenset({"int", "long"})
METHOD_LETTERS = "RWE"  # readable, writable, observable (§1.5.5 ServiceProperty.method)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

# Profile JSON name -> ProfileKey attribute, which is also the devices column holding it.
KEY_FIELDS: tuple[tuple[str, str], ...] = (
    ("manufacturerId", "manufacturer_id"),
    ("manufacturerName", "manufacturer_name"),
    ("deviceType", "device_type"),
    ("model", "model"),
    ("protocolType", "protocol_type"),
)


class ProfileError(ValueError):
    """A profile that does not follow docs/profiles.md; the message says where and why."""


@dataclass(frozen=True)
class ProfileKey:
    manufacturer_id: str
    manufacturer_name: str
    device_type: str
    model: str
    protocol_type: str

    def json(self) -> dict[str, str]:
        return {name: getattr(self, attr) for name, attr in KEY_FIELDS}

    def describe(self) -> str:
        return ", ".join(f"{name}={value!r}" for name, value in self.json().items())


@dataclass(frozen=True)
class ValueSpec:
    """What a property and a command parameter share."""

    data_type: str
    required: bool
    min: str | None
    max: str | None
    step: float | None
    max_length: int | None
    unit: str | None
    enum_list: tuple[str, ...] | None


@dataclass(frozen=True)
class Property:
    name: str
    method: str  # letters of METHOD_LETTERS, in that order
    spec: ValueSpec


@dataclass(frozen=True)
class Para:
    name: str
    spec: ValueSpec


@dataclass(frozen=True)
class CommandResponse:
    name: str
    paras: tuple[Para, ...]


@dataclass(frozen=True)
class Command:
    name: str
    paras: tuple[Para, ...]
    responses: tuple[CommandResponse, ...]


@dataclass(frozen=True)
class Service:
    service_id: str
    service_type: str
    option: str | None
    description: str | None
    properties: tuple[Property, ...]
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Profile:
    key: ProfileKey
    product_id: str | None
    services: tuple[Service, ...]


# ---------------------------------------------------------------------------------------------------- parsing


class _Fields:
    """One JSON object of a profile, read key by key; ``done`` refuses the keys nothing read (typos)."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise ProfileError(f"{path or 'the profile'}: must be a JSON object")
        self._obj = value
        self._path = path
        self._read: set[str] = set()

    def error(self, key: str, problem: str) -> ProfileError:
        return ProfileError(f"{self.where(key)}: {problem}")

    def where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def get(self, key: str) -> object:
        """The value, None when absent; an explicit null means absent (G8)."""
        self._read.add(key)
        return self._obj.get(key)

    def text(self, key: str, *, max_length: int = NAME_MAX) -> str | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        if len(value) > max_length:
            raise self.error(key, f"must be at most {max_length} characters")
        return value

    def name(self, key: str) -> str:
        value = self.text(key)
        if not value:
            raise self.error(key, "is mandatory (a non-empty string)")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        # "true"/"false" strings too: the reference's examples quote booleans.
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if value is None or isinstance(value, bool):
            return bool(value)
        raise self.error(key, "must be true or false")

    def number(self, key: str, *, integer: bool) -> tuple[str, float] | None:
        """A number given as JSON number or numeric string: its text and its value."""
        value = self.get(key)
        if value is None:
            return None
        text = value.strip() if isinstance(value, str) else str(value)
        # A pattern rather than float()/int() alone: those also take "nan", "inf" and "1_000".
        if isinstance(value, bool) or not (_INTEGER if integer else _DECIMAL).fullmatch(text):
            raise self.error(key, "must be an integer" if integer else "must be a number")
        number = int(text) if integer else float(text)
        if not math.isfinite(number):
            raise self.error(key, "is out of range")
        return text, number

    def count(self, key: str) -> int | None:
        found = self.number(key, integer=True)
        if found is not None and found[1] < 0:
            raise self.error(key, "must not be negative")
        return None if found is None else int(found[1])

    def items(self, key: str) -> list[tuple[object, str]]:
        """A list's elements with their paths; an absent list is empty."""
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be a list")
        return [(item, f"{self.where(key)}[{i}]") for i, item in enumerate(value)]

    def strings(self, key: str) -> tuple[str, ...] | None:
        if self.get(key) is None:
            return None
        found = []
        for item, where in self.items(key):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ProfileError(f"{where}: must be a string")
            found.append(str(item))
        return tuple(found)

    def done(self) -> None:
        unknown = sorted(str(key) for key in self._obj if key not in self._read)
        if unknown:
            raise ProfileError(f"{self._path or 'the profile'}: unknown field(s) {', '.join(unknown)}")


def _unique(names: Sequence[str], what: str, path: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ProfileError(f"{path}: {what} {name!r} appears twice")
        seen.add(name)


def _spec(f: _Fields) -> ValueSpec:
    """The value fields of a property or parameter; the caller reads the rest and calls ``done``."""
    raw_type = f.name("dataType")
    data_type = _DATA_TYPES.get(raw_type.lower())
    if data_type is None:
        raise f.error("dataType", f"{raw_type!r} is not one of {', '.join(DATA_TYPES)}")
    integer = data_type in _INTEGER_TYPES
    low, high = f.number("min", integer=integer), f.number("max", integer=integer)
    if low is not None and high is not None and low[1] > high[1]:
        raise f.error("min", f"{low[0]} is greater than max {high[0]}")
    step = f.number("step", integer=False)
    if step is not None and step[1] <= 0:
        raise f.error("step", "must be greater than 0")
    return ValueSpec(
        data_type=data_type,
        required=f.flag("required"),
        min=None if low is None else low[0],
        max=None if high is None else high[0],
        step=None if step is None else step[1],
        max_length=f.count("maxLength"),
        unit=f.text("unit"),
        enum_list=f.strings("enumList"),
    )


def _method(f: _Fields) -> str:
    raw = f.name("method").upper()
    if any(letter not in METHOD_LETTERS for letter in raw) or len(set(raw)) != len(raw):
        raise f.error("method", f"must combine R, W and E, each at most once (got {raw!r})")
    return "".join(letter for letter in METHOD_LETTERS if letter in raw)


def _property(value: object, path: str) -> Property:
    f = _Fields(value, path)
    prop = Property(name=f.name("propertyName"), method=_method(f), spec=_spec(f))
    f.done()
    return prop


def _para(value: object, path: str) -> Para:
    f = _Fields(value, path)
    para = Para(name=f.name("paraName"), spec=_spec(f))
    f.done()
    return para


def _paras(f: _Fields) -> tuple[Para, ...]:
    paras = tuple(_para(item, where) for item, where in f.items("paras"))
    _unique([p.name for p in paras], "paraName", f.where("paras"))
    return paras


def _response(value: object, path: str) -> CommandResponse:
    f = _Fields(value, path)
    response = CommandResponse(name=f.name("responseName"), paras=_paras(f))
    f.done()
    return response


def _command(value: object, path: str) -> Command:
    f = _Fields(value, path)
    name = f.name("commandName")
    paras = _paras(f)
    responses = tuple(_response(item, where) for item, where in f.items("responses"))
    _unique([r.name for r in responses], "responseName", f.where("responses"))
    f.done()
    return Command(name, paras, responses)


def _service(value: object, path: str) -> Service:
    f = _Fields(value, path)
    service_id = f.name("serviceId")
    service = Service(
        service_id=service_id,
        service_type=f.text("serviceType") or service_id,
        option=f.text("option"),
        description=f.text("description", max_length=DESCRIPTION_MAX),
        properties=tuple(_property(item, where) for item, where in f.items("properties")),
        commands=tuple(_command(item, where) for item, where in f.items("commands")),
    )
    f.done()
    _unique([p.name for p in service.properties], "propertyName", f.where("properties"))
    _unique([c.name for c in service.commands], "commandName", f.where("commands"))
    return service


def parse_profile(obj: object) -> Profile:
    """Validate a profile in the format of docs/profiles.md; raises ProfileError naming the faulty field."""
    f = _Fields(obj, "")
    key = ProfileKey(**{attr: f.name(name) for name, attr in KEY_FIELDS})
    product_id = f.text("productId")
    if product_id == "":
        raise f.error("productId", "must not be empty (leave it out instead)")
    services = tuple(_service(item, where) for item, where in f.items("services"))
    f.done()
    _unique([s.service_id for s in services], "serviceId", "services")
    return Profile(key, product_id, services)


def key_of_device(row: Row) -> ProfileKey | None:
    """The five model fields of a device row, or None when any is missing."""
    values = {attr: row[attr] for _, attr in KEY_FIELDS}
    return ProfileKey(**values) if all(values.values()) else None


def profile_ref(product_id: str | None, key_fields: Mapping[str, str | None]) -> ProfileKey | str:
    """What names one stored profile: a productId alone, or all five model fields (ProfileKey attributes)."""
    given = {attr: value for attr, value in key_fields.items() if value is not None}
    if product_id is not None and not given:
        return product_id
    if product_id is None and set(given) == {attr for _, attr in KEY_FIELDS}:
        return ProfileKey(**given)
    names = ", ".join(name for name, _ in KEY_FIELDS)
    raise ProfileError(f"name the profile by productId alone or by all of {names}")


# ---------------------------------------------------------------------------------------------------- output


def _spec_json(spec: ValueSpec, **extra: Any) -> dict[str, Any]:
    # ``extra`` (a property's method) goes where §1.5.5's table puts it, between maxLength and unit.
    return {
        "dataType": spec.data_type,
        "required": spec.required,
        "min": spec.min,
        "max": spec.max,
        "step": spec.step,
        "maxLength": spec.max_length,
        **extra,
        "unit": spec.unit,
        "enumList": None if spec.enum_list is None else list(spec.enum_list),
    }


def _paras_json(paras: Sequence[Para]) -> list[dict[str, Any]]:
    """ServiceCommandPara (§1.5.5)."""
    return [{"paraName": p.name, **_spec_json(p.spec)} for p in paras]


def capabilities(profile: Profile) -> list[dict[str, Any]]:
    """The §1.5.5 ServiceCapabilityDTO list, every documented key present (G3)."""
    return [
        {
            "serviceId": s.service_id,
            "serviceType": s.service_type,
            "option": s.option,
            "description": s.description,
            "commands": [
                {
                    "commandName": c.name,
                    "paras": _paras_json(c.paras),
                    "responses": [{"responseName": r.name, "paras": _paras_json(r.paras)} for r in c.responses],
                }
                for c in s.commands
            ],
            "properties": [{"propertyName": p.name, **_spec_json(p.spec, method=p.method)} for p in s.properties],
        }
        for s in profile.services
    ]


def to_json(profile: Profile) -> dict[str, Any]:
    """The profile in its normalized form, which ``parse_profile`` reads back to the same Profile."""
    return {**profile.key.json(), "productId": profile.product_id, "services": capabilities(profile)}


def _notification(notify_type: NotifyType, app_id: str, key: ProfileKey) -> dict[str, Any]:
    """§1.6.7.6-8 and SDK §2.3.5.11-12 share these seven fields."""
    return {
        "notifyType": notify_type.value,
        "appId": app_id,
        "deviceType": key.device_type,
        "manufacturerName": key.manufacturer_name,
        "manufacturerId": key.manufacturer_id,
        "model": key.model,
        "protocolType": key.protocol_type,
    }


def added_notifications(app_id: str, key: ProfileKey, *, replaced: bool) -> list[dict[str, Any]]:
    """One payload per vocabulary (S2). A replaced profile is chapter 1's deviceCapabilitiesChanged; the SDK
    vocabulary has no "changed", so its subscribers hear deviceModelAdded again."""
    first = NotifyType.CAPABILITIES_CHANGED if replaced else NotifyType.CAPABILITIES_ADDED
    return [_notification(first, app_id, key), _notification(NotifyType.MODEL_ADDED, app_id, key)]


def deleted_notifications(app_id: str, key: ProfileKey) -> list[dict[str, Any]]:
    return [
        _notification(NotifyType.CAPABILITIES_DELETED, app_id, key),
        _notification(NotifyType.MODEL_DELETED, app_id, key),
    ]


def check_desired(profile: Profile, service_id: str, desired: Mapping[str, Any]) -> None:
    """A shadow change against the device's profile (§1.4.8 L1356, DECISIONS D4, D6): the service must exist, and
    each property must exist and be writable (W). Raises PlatformError."""
    service = next((s for s in profile.services if s.service_id == service_id), None)
    if service is None:
        raise PlatformError(E.SERVICE_TYPE_NOT_FOUND)
    if not service.properties:
        raise PlatformError(E.PROPERTIES_EMPTY)
    methods = {p.name: p.method for p in service.properties}
    for name in desired:
        if name not in methods:
            raise PlatformError(E.PROPERTIES_UNKNOWN)
        if "W" not in methods[name]:
            raise PlatformError(E.PROPERTY_NOT_WRITABLE)
