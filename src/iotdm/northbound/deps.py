"""Request dependencies: the platform's services and the authenticated caller (G4, G5, G6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from iotdm.services.container import Services


def _services_of(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, on every request.
    return _services_of(request)


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
    return await authenticate(request, app_key, authorization, appId)


async def authenticate(request: Request, app_key: str | None, authorization: str | None, app_id: str | None) -> str:
    key = app_key or request.headers.get("x-app-key")
    target = await _services_of(request).apps.authenticate(key, bearer_token(authorization), app_id)
    request.state.target_app = target
    request.state.caller_app = key
    return target


async def caller_app(request: Request, _target: Annotated[str, Depends(target_app)]) -> str:
    """The authenticated app itself, whichever app its ``appId`` parameter makes it act on."""
    caller: str = request.state.caller_app
    return caller


async def authenticate_unless_done(request: Request, route: object) -> None:
    """Authenticate a request that failed before its dependencies ran (a malformed JSON body is rejected before
    them), so a caller without valid credentials hears about those first. Raises PlatformError."""
    dependant = getattr(route, "dependant", None)
    needs_auth = dependant is not None and any(d.call is target_app for d in dependant.dependencies)
    if needs_auth and not hasattr(request.state, "target_app"):
        headers = request.headers
        await authenticate(
            request, headers.get("app_key"), headers.get("authorization"), request.query_params.get("appId")
        )


TargetApp = Annotated[str, Depends(target_app)]
CallerApp = Annotated[str, Depends(caller_app)]
Svc = Annotated[Services, Depends(services)]
