"""Queries on dead letters: pushes given up on (DECISIONS S3), read, re-queued or deleted by an operator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from iotdm.store import pushes as push_store
from iotdm.store.schema import dead_letters, subscriptions


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters an operation concerns; None means "not filtered"."""

    ids: tuple[int, ...] | None = None
    app_id: str | None = None
    subscription_id: str | None = None
    notify_type: str | None = None


def _where(f: DeadLetterFilter) -> sa.ColumnElement[bool]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.ids is not None:
        conditions.append(dead_letters.c.id.in_(f.ids))
    if f.app_id is not None:
        conditions.append(dead_letters.c.app_id == f.app_id)
    if f.subscription_id is not None:
        conditions.append(dead_letters.c.subscription_id == f.subscription_id)
    if f.notify_type is not None:
        conditions.append(dead_letters.c.notify_type == f.notify_type)
    return sa.and_(sa.true(), *conditions)


def count(conn: sa.Connection, f: DeadLetterFilter) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(dead_letters).where(_where(f))).scalar_one()


def page(conn: sa.Connection, f: DeadLetterFilter, offset: int, limit: int) -> Sequence[sa.RowMapping]:
    """Newest failure first."""
    query = (
        dead_letters.select()
        .where(_where(f))
        .order_by(dead_letters.c.failed_at.desc(), dead_letters.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return conn.execute(query).mappings().all()


def get(conn: sa.Connection, dead_letter_id: int) -> sa.RowMapping | None:
    return conn.execute(dead_letters.select().where(dead_letters.c.id == dead_letter_id)).mappings().first()


def last_id(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(dead_letters.c.id), 0))).scalar_one())


def for_replay(
    conn: sa.Connection, f: DeadLetterFilter, after_id: int, up_to_id: int, limit: int
) -> Sequence[sa.RowMapping]:
    """The next dead letters by id, locked, each with ``live``: whether its subscription still exists.

    Within one (subscription, device) the dispatcher gives up on pushes in their order, so id order keeps it.
    """
    live = subscriptions.c.subscription_id.is_not(None).label("live")
    query = (
        sa.select(dead_letters, live)
        .select_from(
            dead_letters.outerjoin(subscriptions, subscriptions.c.subscription_id == dead_letters.c.subscription_id)
        )
        .where(_where(f), dead_letters.c.id > after_id, dead_letters.c.id <= up_to_id)
        .order_by(dead_letters.c.id)
        .limit(limit)
        # Two replays of the same letters must not queue them twice: the second waits, then finds them gone.
        .with_for_update(of=dead_letters)
    )
    return conn.execute(query).mappings().all()


def requeue(conn: sa.Connection, letters: Sequence[sa.RowMapping], now: int) -> list[int]:
    """Queue each letter again as a fresh push of its subscription and delete it, in the caller's transaction;
    the ids queued. Deleting first makes a letter that another replay took meanwhile drop out (SQLite reads
    without locks)."""
    if not letters:
        return []
    taken = dead_letters.delete().where(dead_letters.c.id.in_([letter["id"] for letter in letters]))
    ids = set(conn.execute(taken.returning(dead_letters.c.id)).scalars())
    queued = [letter for letter in letters if letter["id"] in ids]
    # Behind whatever its (subscription, device) already has queued, so the key's order holds.
    push_store.enqueue(
        conn,
        [
            {
                "subscription_id": letter["subscription_id"],
                "device_id": letter["device_id"],
                "payload": letter["payload"],
                "created_at": now,
            }
            for letter in queued
        ],
        now,
    )
    return [letter["id"] for letter in queued]


def delete(conn: sa.Connection, f: DeadLetterFilter) -> int:
    """Delete the matching dead letters; how many there were."""
    return conn.execute(dead_letters.delete().where(_where(f))).rowcount
