"""Constrained field types shared by the DTOs (the reference's String(n), String(a-b), Integer ranges)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from iotdm.domain.devices import is_valid_psk


def _check_psk(value: str) -> str:
    if not is_valid_psk(value):
        raise ValueError("psk must be 8-32 hexadecimal characters")
    return value


def _reject_bool(value: object) -> object:
    # pydantic's lax mode reads JSON true/false as 1/0; {"timeout": true} must not mean "expire in 1 s".
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    return value


Str256 = Annotated[str, Field(max_length=256)]
Str1To256 = Annotated[str, Field(min_length=1, max_length=256)]
Psk = Annotated[str, AfterValidator(_check_psk)]
Integer = Annotated[int, BeforeValidator(_reject_bool)]
Timeout = Annotated[Integer, Field(ge=0, le=2147483647, description="Seconds; 0 = never expires.")]
