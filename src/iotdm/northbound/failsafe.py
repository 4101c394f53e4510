"""ASGI middleware answering an unexpected exception with 500 ``100001`` (G1) and logging it once.

Starlette's own catch-all answers and then re-raises to the server, which closes the connection; clients of
the original platform keep their connections alive, so the exception ends here instead.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iotdm.domain.errors import E
from iotdm.northbound.responses import error

log = logging.getLogger(__name__)


class AnswerUnexpected:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for an error answer: let the server drop the connection
                raise
            await error(E.INTERNAL)(scope, receive, send)
