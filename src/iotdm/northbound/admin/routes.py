"""Operator endpoints under ``/admin``: applications and their authorizations (G5)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from iotdm.domain.errors import E, PlatformError
from iotdm.domain.profiles import ProfileError, profile_ref
from iotdm.northbound.deps import Svc, bearer_token
from iotdm.northbound.responses import empty, json_body
from iotdm.northbound.validation import on_invalid


async def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    token = bearer_token(authorization)
    expected: str = request.app.state.admin_token
    if token is None or not hmac.compare_digest(token, expected):
        raise PlatformError(E.TOKEN_INVALID)


async def require_admin_unless_done(request: Request, route: object) -> None:
    """Check the admin token of a request that failed before its dependencies ran (a malformed body is rejected
    before them), so that a caller without the token hears about that first."""
    dependant = getattr(route, "dependant", None)
    if dependant is not None and any(d.call is require_admin for d in dependant.dependencies):
        await require_admin(request, request.headers.get("authorization"))


router = APIRouter(prefix="/admin", tags=["Operators"], dependencies=[Depends(require_admin)])


class AppIn(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    rateLimit: int | None = Field(None, ge=0, description="Calls per minute; 0 = unlimited; absent = default.")


class NewAppOut(BaseModel):
    appId: str
    secret: str


class AppOut(BaseModel):
    appId: str
    name: str
    rateLimit: int | None
    authorizedApps: list[str]


class AuthorizationIn(BaseModel):
    to: str = Field(description="The app that may act on this app's devices.")


@router.post("/apps", status_code=201, responses={201: {"model": NewAppOut}})
async def create_app(body: AppIn, svc: Svc) -> Response:
    """Create an application; its secret is shown this once."""
    app = await svc.apps.create(body.name, body.rateLimit)
    return json_body({"appId": app.app_id, "secret": app.secret}, 201)


@router.get("/apps", responses={200: {"model": list[AppOut]}})
async def list_apps(svc: Svc) -> Response:
    return json_body(
        [
            {
                "appId": a.app_id,
                "name": a.name,
                "rateLimit": a.rate_limit,
                "authorizedApps": a.authorized_apps,
            }
            for a in await svc.apps.list()
        ]
    )


@router.post("/apps/{appId}/authorizations", status_code=204)
async def authorize(appId: str, body: AuthorizationIn, svc: Svc) -> Response:
    """Let ``to`` act on the devices of ``appId`` through the appId parameter."""
    await svc.apps.authorize(appId, body.to)
    return empty(204)


# Product models (DECISIONS D6, docs/profiles.md)


class ProfileOut(BaseModel):
    manufacturerId: str
    manufacturerName: str
    deviceType: str
    model: str
    protocolType: str
    productId: str | None
    serviceIds: list[str]
    createdAt: str


class ProfileImportedOut(ProfileOut):
    replaced: bool = Field(description="A profile with the same five model fields existed and was replaced.")


@router.post("/profiles", status_code=201, responses={201: {"model": ProfileImportedOut}})
@on_invalid(E.INPUT_INVALID_50400)
async def import_profile(
    body: Annotated[dict[str, Any], Body(description="A profile in the format of docs/profiles.md.")], svc: Svc
) -> Response:
    """Import a profile, replacing the one with the same five model fields; notifies the apps concerned."""
    try:
        imported = await svc.profiles.import_(body)
    except ProfileError as exc:
        raise PlatformError(E.INPUT_INVALID_50400, str(exc)) from exc
    return json_body({**imported.summary.json(), "replaced": imported.replaced}, 201)


@router.get("/profiles", responses={200: {"model": list[ProfileOut]}})
async def list_profiles(svc: Svc) -> Response:
    return json_body([summary.json() for summary in await svc.profiles.list()])


@router.delete("/profiles", status_code=204, responses={404: {"description": "No such profile."}})
@on_invalid(E.INPUT_INVALID_50400)
async def delete_profile(
    svc: Svc,
    productId: str | None = None,
    manufacturerId: str | None = None,
    manufacturerName: str | None = None,
    deviceType: str | None = None,
    model: str | None = None,
    protocolType: str | None = None,
) -> Response:
    """Delete the profile named by ``productId`` alone or by all five model fields; notifies the apps concerned."""
    key_fields = {
        "manufacturer_id": manufacturerId,
        "manufacturer_name": manufacturerName,
        "device_type": deviceType,
        "model": model,
        "protocol_type": protocolType,
    }
    try:
        target = profile_ref(productId, key_fields)
    except ProfileError as exc:
        raise PlatformError(E.INPUT_INVALID_50400, str(exc)) from exc
    # The catalogue has no "no such profile" code for the operator API; the status says it.
    return empty(204 if await svc.profiles.delete(target) is not None else 404)
