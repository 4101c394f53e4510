"""ASGI middleware for what clients of the original platform send (DECISIONS G8).

Empty query values (``?pageNo=``) and empty pairs (``?&pageNo=0``) mean "absent"; a trailing slash on a path
is the same path.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send


class NormalizeRequest:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            query: bytes = scope.get("query_string", b"")
            if len(path) > 1 and path.endswith("/"):
                scope = {**scope, "path": path.rstrip("/") or "/"}
            if query:
                pairs = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if v]
                scope = {**scope, "query_string": urlencode(pairs).encode("latin-1")}
        await self.app(scope, receive, send)
