"""Dead letters, the operator's side (DECISIONS S3): pushes the dispatcher gave up on, to inspect, replay or purge.

The dispatcher writes them; operators read them and queue them again (CLI and admin API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from iotdm.domain.times import format_time
from iotdm.services.clock import now_ms, to_datetime
from iotdm.store import dead_letters as store
from iotdm.store.dead_letters import DeadLetterFilter
from iotdm.store.engine import Database

_BATCH = 500  # dead letters re-queued per transaction

# One replay transaction's outcome: the last id it looked at, the ids it replayed, the ids it kept as orphaned.
# (Named here: inside DeadLetters, ``list`` is the method.)
_Batch = tuple[int, list[int], list[int]]


@dataclass(frozen=True)
class DeadLetter:
    id: int
    subscription_id: str
    app_id: str
    notify_type: str
    callback_url: str
    channel: str
    device_id: str | None  # None for events of no device (product models)
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: int
    failed_at: int

    @classmethod
    def of(cls, row: sa.RowMapping) -> DeadLetter:
        return cls(
            id=row["id"],
            subscription_id=row["subscription_id"],
            app_id=row["app_id"],
            notify_type=row["notify_type"],
            callback_url=row["callback_url"],
            channel=row["channel"],
            device_id=row["device_id"] or None,
            payload=row["payload"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            failed_at=row["failed_at"],
        )

    def json(self, *, payload: bool = True) -> dict[str, Any]:
        """The operator's view; lists leave the payload out."""
        answer: dict[str, Any] = {
            "id": self.id,
            "subscriptionId": self.subscription_id,
            "appId": self.app_id,
            "notifyType": self.notify_type,
            "callbackUrl": self.callback_url,
            "channel": self.channel,
            "deviceId": self.device_id,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "createdAt": format_time(to_datetime(self.created_at)),
            "failedAt": format_time(to_datetime(self.failed_at)),
        }
        if payload:
            answer["payload"] = self.payload
        return answer


@dataclass(frozen=True)
class DeadLetterPage:
    total: int  # all matches, not only this page's
    letters: list[DeadLetter]


@dataclass
class Replayed:
    """What a replay did: letters queued again, letters kept because their subscription is gone, and ids asked
    for that name no dead letter (only when replaying by id)."""

    replayed: list[int] = field(default_factory=list)
    orphaned: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


class DeadLetters:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, f: DeadLetterFilter, offset: int, limit: int) -> DeadLetterPage:
        def read(conn: sa.Connection) -> DeadLetterPage:
            rows = store.page(conn, f, offset, limit)
            return DeadLetterPage(store.count(conn, f), [DeadLetter.of(row) for row in rows])

        return await self._db.read(read)

    async def get(self, dead_letter_id: int) -> DeadLetter | None:
        def read(conn: sa.Connection) -> DeadLetter | None:
            row = store.get(conn, dead_letter_id)
            return None if row is None else DeadLetter.of(row)

        return await self._db.read(read)

    async def replay(self, f: DeadLetterFilter) -> Replayed:
        """Queue the matching dead letters again as fresh pushes of their subscriptions (attempts from 0, due now),
        each deleted in the transaction that queues it. One whose subscription is gone cannot be delivered and is
        kept. Only letters that existed when the replay began are taken, so letters that fail again meanwhile are
        not chased."""
        outcome = Replayed()
        up_to = await self._db.read(store.last_id)
        after = 0
        while True:
            batch = await self._replay_batch(f, after, up_to)
            if batch is None:
                break
            after, replayed, orphaned = batch
            outcome.replayed += replayed
            outcome.orphaned += orphaned
        if f.ids is not None:
            done = set(outcome.replayed) | set(outcome.orphaned)
            outcome.missing = sorted(set(f.ids) - done)
        return outcome

    async def _replay_batch(self, f: DeadLetterFilter, after: int, up_to: int) -> _Batch | None:
        """One transaction of a replay; None when nothing is left."""

        def write(conn: sa.Connection) -> _Batch | None:
            rows = store.for_replay(conn, f, after, up_to, _BATCH)
            if not rows:
                return None
            replayed = store.requeue(conn, [row for row in rows if row["live"]], now_ms())
            return rows[-1]["id"], replayed, [row["id"] for row in rows if not row["live"]]

        try:
            return await self._db.write(write)
        except sa.exc.IntegrityError:
            # A subscription was deleted between the read and the insert; read again, it shows as orphaned now.
            return await self._db.write(write)

    async def purge(self, f: DeadLetterFilter) -> int:
        """Delete the matching dead letters; how many there were."""
        return await self._db.write(lambda conn: store.delete(conn, f))
