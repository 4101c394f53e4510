"""Durable timers: due items live in the database; the scheduler applies them when they fall due.

Each due timer is claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), handled and deleted in one transaction,
and every handler is idempotent, so a restart or a second node never double-applies a transition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import sqlalchemy as sa

from iotdm.services.clock import now_ms
from iotdm.store import timers
from iotdm.store.engine import Database

log = logging.getLogger(__name__)

Handler = Callable[[sa.Connection, str], None]

# Timers may be armed by another node or process, so the database is polled rather than waited on.
_POLL_INTERVAL = 0.5


class Scheduler:
    def __init__(self, db: Database, handlers: dict[str, Handler]) -> None:
        self._db = db
        self._handlers = handlers

    async def run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("timer run failed; retrying")
            await asyncio.sleep(_POLL_INTERVAL)

    async def run_due(self) -> int:
        """Apply every timer due now; answer how many were applied."""
        applied = 0
        while batch := await self._db.write(self._apply_due):
            applied += batch
        return applied

    def _apply_due(self, conn: sa.Connection) -> int:
        batch = timers.due(conn, now_ms())
        for timer in batch:
            handler = self._handlers.get(timer["kind"])
            if handler is None:
                log.warning("no handler for timer kind %s", timer["kind"])
            else:
                handler(conn, timer["key"])
            timers.disarm(conn, timer["kind"], timer["key"])
        return len(batch)
