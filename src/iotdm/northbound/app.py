"""The northbound FastAPI application: routes, request normalisation, and errors in the reference's shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from iotdm import __version__
from iotdm.domain.errors import PlatformError
from iotdm.northbound.admin import dead_letters
from iotdm.northbound.admin import routes as admin
from iotdm.northbound.deps import authenticate_unless_done
from iotdm.northbound.failsafe import AnswerUnexpected
from iotdm.northbound.normalize import NormalizeRequest
from iotdm.northbound.responses import error, json_body
from iotdm.northbound.routes import auth, data, devices, subscriptions
from iotdm.northbound.validation import rule_for
from iotdm.services.container import Services


async def _platform_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlatformError)
    return error(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    try:
        await authenticate_unless_done(request, request.scope.get("route"))
        await admin.require_admin_unless_done(request, request.scope.get("route"))
    except PlatformError as denied:
        return error(denied)
    return error(rule_for(request.scope.get("endpoint")).code_for(exc.errors()))


def create_app(services: Services, admin_token: str) -> FastAPI:
    app = FastAPI(
        title="iotdm",
        version=__version__,
        description="IoT device management: the northbound API of the IoT Device Management API Reference.",
        strict_content_type=False,  # clients of the original send JSON without Content-Type (G8)
        redirect_slashes=False,
    )
    app.state.services = services
    app.state.admin_token = admin_token
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(AnswerUnexpected)
    app.add_middleware(NormalizeRequest)
    for module in (auth, devices, data, subscriptions, admin, dead_letters):
        app.include_router(module.router)

    @app.get("/health", tags=["Operators"])
    async def health() -> Response:
        return json_body({"status": "ok"})

    return app
