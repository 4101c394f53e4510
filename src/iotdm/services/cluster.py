"""This node among the platform's nodes (ARCHITECTURE "Scaling out").

A node registers itself and says it is alive every third of ``timeout``; a node not seen for ``timeout`` is gone,
and whichever node notices first ends that node's sessions for it (``on_gone``: its devices go OFFLINE, its
applications' clients are forgotten), so a crashed node leaves nothing ONLINE behind. Nodes send each other
messages (``store.nodes``: PostgreSQL NOTIFY) to reach a session that lives on another node; each message kind
has one handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from iotdm.services.clock import now_ms
from iotdm.store import nodes
from iotdm.store.engine import Database

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
# Ends a gone node's sessions, in the transaction that forgets the node: (conn, node id, now).
GoneHandler = Callable[[sa.Connection, str, int], None]


class Cluster:
    def __init__(self, db: Database, *, timeout: float) -> None:
        self.node_id = uuid.uuid4().hex
        self._db = db
        self._timeout_ms = int(timeout * 1000)
        self._beat_every = timeout / 3
        self._handlers: dict[str, Handler] = {}
        self._gone_handlers: list[GoneHandler] = []
        self._lost_handlers: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._handling: set[asyncio.Task[None]] = set()

    def handle(self, kind: str, handler: Handler) -> None:
        """Messages of ``kind`` sent to this node go to ``handler``."""
        self._handlers[kind] = handler

    def on_gone(self, handler: GoneHandler) -> None:
        self._gone_handlers.append(handler)

    def on_lost(self, handler: Callable[[], None]) -> None:
        """``handler`` runs when the other nodes took this one for gone (it was not heard of for ``timeout``): they
        ended its sessions in the store, so the live ones must end too."""
        self._lost_handlers.append(handler)

    async def start(self) -> None:
        await self._db.write(lambda conn: nodes.register(conn, self.node_id, now_ms()))
        self._tasks = [
            asyncio.create_task(self._beat()),
            asyncio.create_task(nodes.listen(self._db, self.node_id, self._receive)),
        ]
        await self._reap()

    async def stop(self) -> None:
        """Stop beating; the node's row stays as if it had not been seen for long, so that whatever its sessions
        left behind (a goodbye that could not be written) is cleaned up by the next node that looks."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        try:
            await self._db.write(lambda conn: nodes.seen(conn, self.node_id, 0))
        except Exception:
            log.exception("could not mark the node stopped; it is taken for gone after the node timeout instead")

    def _receive(self, message: dict[str, Any]) -> None:
        handler = self._handlers.get(message.get("kind", ""))
        if handler is None:
            log.warning("a message nobody handles: %s", message)
            return
        task = asyncio.get_running_loop().create_task(self._run(handler, message))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _run(self, handler: Handler, message: dict[str, Any]) -> None:
        try:
            await handler(message)
        except Exception:
            log.exception("handling %s failed", message)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._beat_every)
            try:
                if not await self._db.write(lambda conn: nodes.seen(conn, self.node_id, now_ms())):
                    await self._rejoin()
                await self._reap()
            except Exception:
                log.exception("the node's heartbeat failed; trying again")

    async def _rejoin(self) -> None:
        log.error(
            "the other nodes took this one for gone (not heard of for %g s): ending its sessions",
            self._timeout_ms / 1000,
        )
        await self._db.write(lambda conn: nodes.register(conn, self.node_id, now_ms()))
        for handler in self._lost_handlers:
            handler()

    async def _reap(self) -> None:
        def reap(conn: sa.Connection) -> list[str]:
            now = now_ms()
            gone = list(nodes.gone(conn, now - self._timeout_ms))
            for node_id in gone:
                for handler in self._gone_handlers:
                    handler(conn, node_id, now)
                nodes.remove(conn, node_id)
            return gone

        for node_id in await self._db.write(reap):
            log.info("node %s is gone: its sessions are ended", node_id)
