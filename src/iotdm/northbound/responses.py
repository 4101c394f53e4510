"""Answers in the reference's shapes: JSON bodies, error bodies (G1), empty 200/204."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from iotdm.domain.errors import E, PlatformError


def json_body(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error(err: PlatformError | E) -> Response:
    exc = err if isinstance(err, PlatformError) else PlatformError(err)
    return json_body(exc.body(), exc.status)


def empty(status: int) -> Response:
    return Response(status_code=status)
