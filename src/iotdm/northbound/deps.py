"""Request dependencies: the platform's services and the authenticated caller (G4, G5, G6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from iotdm.services.container import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def bearer_token(authorization: str | None) -> str | None:
    """``Bearer <token>``, the scheme in any case (G8)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def target_app(
    request: Request,
    app_key: Annotated[
        str | None, Header(alias="app_key", convert_underscores=False, description="The caller's appId.")
    ] = None,
    authorization: Annotated[str | None, Header(description="Bearer {accessToken}")] = None,
    appId: Annotated[str | None, Query(description="Act on the devices of this authorized app.")] = None,
) -> str:
    """The app whose resources the call acts on, after authentication and flow control."""
    key = app_key or request.headers.get("x-app-key")
    return await services(request).apps.authenticate(key, bearer_token(authorization), appId)


TargetApp = Annotated[str, Depends(target_app)]
Svc = Annotated[Services, Depends(services)]
