"""Operator endpoints under ``/admin``: applications and their authorizations (G5)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from iotdm.domain.errors import E, PlatformError
from iotdm.northbound.deps import Svc, bearer_token
from iotdm.northbound.responses import empty, json_body


async def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    token = bearer_token(authorization)
    expected: str = request.app.state.admin_token
    if token is None or not hmac.compare_digest(token, expected):
        raise PlatformError(E.TOKEN_INVALID)


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
