"""Settling pushes: the outcome of each delivery is written in batches, one transaction for everything queued,
and the leases this node holds are kept track of so that a stop can give them back.

A delivered push is deleted; a failed one is tried again after a backoff, or becomes a dead letter once its
retry period is over. Either way its key's next push (if any) becomes the head, leased at once to the worker
that settled, which delivers it next: a key's pushes go out one after the other without waiting for a claim.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa

from iotdm.domain.delivery import next_attempt_at
from iotdm.push.channel import Target
from iotdm.services.batching import next_batch
from iotdm.services.clock import now_ms
from iotdm.store import pushes
from iotdm.store.engine import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Push:
    """A push leased to this node: ``token`` (the lease's end) proves the lease when it is settled."""

    id: int
    token: int
    channel: str
    device_id: str
    body: bytes
    created_at: int
    attempts: int
    target: Target

    @classmethod
    def leased(cls, row: sa.RowMapping, token: int) -> Push:
        return cls(
            id=row["id"],
            token=token,
            channel=row["channel"],
            device_id=row["device_id"],
            body=row["body"].encode(),
            created_at=row["created_at"],
            attempts=row["attempts"],
            target=Target(
                subscription_id=row["subscription_id"],
                app_id=row["app_id"],
                created_by=row["created_by"],
                owner_flag=row["owner_flag"],
                notify_type=row["notify_type"],
                callback_url=row["callback_url"],
            ),
        )


@dataclass(slots=True)
class _Outcome:
    push: Push
    error: str | None  # None: delivered
    done: asyncio.Future[Push | None]


class Settler:
    def __init__(self, db: Database, *, retry_period_ms: int, lease_ms: int, max_batch: int = 1000) -> None:
        self._db = db
        self._retry_period_ms = retry_period_ms
        self._lease_ms = lease_ms
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Outcome] = asyncio.Queue()
        self._held: dict[int, int] = {}  # push id -> token, of every lease not settled yet
        # Cleared when the node stops: a settled key's next push is then left for later instead of leased.
        self.continuing = True

    def hold(self, push: Push) -> None:
        self._held[push.id] = push.token

    def settle(self, push: Push, error: str | None) -> asyncio.Future[Push | None]:
        """Queue the outcome of a delivery; the future answers the key's next push, now leased to the caller."""
        done: asyncio.Future[Push | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Outcome(push, error, done))
        return done

    async def run(self) -> None:
        while True:
            batch = await next_batch(self._queue, self._max_batch)
            try:
                await self._commit(batch)
            except Exception as exc:
                # The pushes stay leased until their leases lapse, then they are delivered again.
                log.exception("settling %d pushes failed", len(batch))
                for outcome in batch:
                    if not outcome.done.done():
                        outcome.done.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def stop(self) -> None:
        """Write the outcomes still queued, then give back every lease not settled."""
        await self._queue.join()
        leases = list(self._held.items())
        if leases:
            try:
                await self._db.write(partial(pushes.release, leases=leases))
            except Exception:
                log.exception("could not release %d push leases; they lapse on their own", len(leases))
            self._held.clear()

    async def _commit(self, batch: list[_Outcome]) -> None:
        now = now_ms()
        lease_until = now + self._lease_ms if self.continuing else None
        nexts = await self._db.write(partial(self._write, batch=batch, now=now, lease_until=lease_until))
        for outcome, following in zip(batch, nexts, strict=True):
            self._held.pop(outcome.push.id, None)
            if following is not None:
                self._held[following.id] = following.token
            if not outcome.done.done():
                outcome.done.set_result(following)
        for outcome in batch:
            if outcome.error is not None:
                _log_failure(outcome.push, outcome.error, now, self._retry_period_ms)

    def _write(
        self, conn: sa.Connection, batch: list[_Outcome], now: int, lease_until: int | None
    ) -> list[Push | None]:
        pushes.exclude_queueing(conn)
        delivered = [(o.push.id, o.push.token) for o in batch if o.error is None]
        gone, leased = pushes.settle_delivered(conn, delivered, now, lease_until)
        following = {(row["subscription_id"], row["device_id"]): row for row in leased}
        nexts: list[Push | None] = []
        for outcome in batch:
            push = outcome.push
            key = (push.target.subscription_id, push.device_id)
            if outcome.error is not None:
                nexts.append(self._failed(conn, push, outcome.error, now, lease_until))
            elif lease_until is not None and push.id in gone and key in following:
                nexts.append(Push.leased(following[key], lease_until))
            else:
                nexts.append(None)
        return nexts

    def _failed(self, conn: sa.Connection, push: Push, error: str, now: int, lease_until: int | None) -> Push | None:
        """Try again after a backoff, or give up once the retry period is over; answer the key's next push when
        this one became a dead letter."""
        attempts = push.attempts + 1
        retry_at = next_attempt_at(push.created_at, attempts, now, self._retry_period_ms)
        if retry_at is not None:
            pushes.retry_later(conn, push.id, push.token, attempts, retry_at, error)
            return None
        subscription_id = push.target.subscription_id
        buried = pushes.bury(
            conn,
            push.id,
            push.token,
            subscription_id=subscription_id,
            device_id=push.device_id,
            attempts=attempts,
            error=error,
            now=now,
            cutoff=now - self._retry_period_ms,
        )
        if not buried:
            return None
        row = pushes.promote_next(conn, subscription_id, push.device_id, now, lease_until)
        return None if row is None or lease_until is None else Push.leased(row, lease_until)


def _log_failure(push: Push, error: str, now: int, retry_period_ms: int) -> None:
    attempts = push.attempts + 1
    if next_attempt_at(push.created_at, attempts, now, retry_period_ms) is None:
        log.warning(
            "push %d to subscription %s given up after %d attempts: %s (kept as a dead letter)",
            push.id,
            push.target.subscription_id,
            attempts,
            error,
        )
    else:
        log.info(
            "push %d to subscription %s failed (attempt %d): %s", push.id, push.target.subscription_id, attempts, error
        )
