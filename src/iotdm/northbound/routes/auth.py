"""§1.3 Secure application access: login and token refresh."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from iotdm.domain.errors import E, PlatformError
from iotdm.northbound.deps import Svc
from iotdm.northbound.dto.auth import LoginIn, RefreshIn, TokenOut
from iotdm.northbound.responses import json_body

router = APIRouter(tags=["1.3 Secure application access"])


def _form_or_json(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    content = {kind: {"schema": schema} for kind in ("application/x-www-form-urlencoded", "application/json")}
    return {"requestBody": {"required": True, "content": content}}


async def _fields(request: Request, *names: str) -> list[str]:
    """The named fields of a form-urlencoded or JSON body (G4); missing or empty -> 102202."""
    raw = await request.body()
    body: Any
    try:
        if raw.lstrip().startswith(b"{"):
            body = orjson.loads(raw)
        else:
            body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlatformError(E.INPUT_INVALID_50400) from exc
    values = [body.get(name) if isinstance(body, dict) else None for name in names]
    present = [value for value in values if isinstance(value, str) and value]
    if len(present) != len(names):
        raise PlatformError(E.REQUIRED_PARAMETER_EMPTY)
    if any(len(value) > 256 for value in present):
        raise PlatformError(E.INPUT_INVALID_50400)
    return present


@router.post("/iocm/app/sec/v1.1.0/login", responses={200: {"model": TokenOut}}, openapi_extra=_form_or_json(LoginIn))
async def login(request: Request, svc: Svc) -> Response:
    """§1.3.1 L494: appId + secret -> accessToken (the only valid one from now on) and refreshToken."""
    app_id, secret = await _fields(request, "appId", "secret")
    return json_body((await svc.apps.login(app_id, secret)).body())


@router.post(
    "/iocm/app/sec/v1.1.0/refreshToken",
    responses={200: {"model": TokenOut}},
    openapi_extra=_form_or_json(RefreshIn),
)
async def refresh_token(request: Request, svc: Svc) -> Response:
    """§1.3.2 L568: a new token pair from a valid refreshToken."""
    app_id, secret, token = await _fields(request, "appId", "secret", "refreshToken")
    return json_body((await svc.apps.refresh(app_id, secret, token)).body())
