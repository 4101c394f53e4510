"""Pushes waiting for delivery, and dead letters (DECISIONS S3).

Order per (subscription, device) -- a *key* -- rests on one invariant: of a key's rows only the oldest, its
*head*, is ever due; the rows behind it wait with ``next_attempt_at = WAITING`` until the head is delivered or
given up, when the next one is promoted. So finding work reads only heads, however long a queue grows behind
a failing callback. On PostgreSQL the fan-out (which queues rows behind heads) and the settling of heads (which
promotes) exclude each other through an advisory lock; otherwise a row could be queued behind a head that is
deleted at the same moment and wait forever. On SQLite both take the write lock before they read.

A lease is ``claimed_until``; its value doubles as the claim's token, so a node whose lease lapsed (and whose
push another node took over) changes nothing when it settles late.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import app_clients, dead_letters, outbox, pushes, subscriptions

# next_attempt_at of a row queued behind its key's head: past any real time, so never due.
WAITING = 1 << 62

# Taken exclusively to queue rows (fan-out, replay) and shared to settle heads (PostgreSQL); a constant of its own.
_QUEUE_LOCK = 0x696F74646D2D70

_older = pushes.alias("older")
_head = pushes.alias("head")

_OUTBOX_BATCH = sa.select(outbox.c.id).order_by(outbox.c.id).limit(sa.bindparam("limit"))

_LAST_ID = sa.select(sa.func.coalesce(sa.func.max(pushes.c.id), 0))

# One row per (event, subscription of the event's app to its type), in event order: ids follow it, and ids
# order a key's rows.
_FAN_OUT = pushes.insert().from_select(
    ["subscription_id", "device_id", "payload", "created_at", "attempts", "next_attempt_at"],
    sa.select(
        subscriptions.c.subscription_id,
        sa.func.coalesce(outbox.c.device_id, ""),
        outbox.c.payload,
        outbox.c.created_at,
        sa.literal(0, sa.Integer),
        sa.bindparam("now", type_=sa.BigInteger),
    )
    .select_from(
        outbox.join(
            subscriptions,
            sa.and_(subscriptions.c.app_id == outbox.c.app_id, subscriptions.c.notify_type == outbox.c.notify_type),
        )
    )
    .where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(outbox.c.id, subscriptions.c.subscription_id),
)

# New rows that have an older row of their key wait behind it.
_QUEUE_BEHIND = (
    pushes.update()
    .where(
        pushes.c.id > sa.bindparam("last_id"),
        sa.exists().where(
            _older.c.subscription_id == pushes.c.subscription_id,
            _older.c.device_id == pushes.c.device_id,
            _older.c.id < pushes.c.id,
        ),
    )
    .values(next_attempt_at=WAITING)
)

_DELETE_OUTBOX = outbox.delete().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))

# A push with what delivering it needs: its body as stored (the exact JSON text) and its subscription.
_DELIVERABLE = sa.select(
    pushes.c.id,
    pushes.c.subscription_id,
    pushes.c.device_id,
    sa.cast(pushes.c.payload, sa.Text).label("body"),
    pushes.c.created_at,
    pushes.c.attempts,
    subscriptions.c.app_id,
    subscriptions.c.created_by,
    subscriptions.c.notify_type,
    subscriptions.c.callback_url,
    subscriptions.c.channel,
    subscriptions.c.owner_flag,
).select_from(pushes.join(subscriptions, subscriptions.c.subscription_id == pushes.c.subscription_id))

# The app an MQTT push goes to: domain.subscriptions.receiving_app in SQL.
_RECEIVING_APP = sa.case((subscriptions.c.owner_flag, subscriptions.c.created_by), else_=subscriptions.c.app_id)

# A node takes an MQTT push only when the receiving app has a client connected to it, or to no node at all (then
# the attempt fails and is retried like any other): never one it cannot deliver while another node could.
_DELIVERABLE_HERE = sa.or_(
    subscriptions.c.channel != "MQTT",
    sa.exists().where(app_clients.c.app_id == _RECEIVING_APP, app_clients.c.node_id == sa.bindparam("node")),
    ~sa.exists().where(app_clients.c.app_id == _RECEIVING_APP),
)

_DUE = (
    _DELIVERABLE.where(
        pushes.c.next_attempt_at <= sa.bindparam("now"),
        sa.or_(pushes.c.claimed_until.is_(None), pushes.c.claimed_until < sa.bindparam("now")),
        pushes.c.subscription_id.not_in(sa.bindparam("busy", expanding=True)),
        _DELIVERABLE_HERE,
    )
    .order_by(pushes.c.next_attempt_at, pushes.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True, of=pushes)
)

_LEASE = (
    pushes.update()
    .where(pushes.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(claimed_until=sa.bindparam("until"))
)

_HEAD_OF_KEY = (
    _DELIVERABLE.where(
        pushes.c.subscription_id == sa.bindparam("subscription_id"),
        pushes.c.device_id == sa.bindparam("device_id"),
    )
    .order_by(pushes.c.id)
    .limit(1)
)

_PROMOTE = (
    pushes.update()
    .where(pushes.c.id == sa.bindparam("b_id"), pushes.c.next_attempt_at == WAITING)
    .values(next_attempt_at=sa.bindparam("now"), claimed_until=sa.bindparam("until"))
)

# Heads, locked, each with its lease and the id of its key's next push.
_HEADS_WITH_NEXT = (
    sa.select(
        _head.c.id,
        _head.c.claimed_until,
        sa.select(sa.func.min(_older.c.id))
        .where(
            _older.c.subscription_id == _head.c.subscription_id,
            _older.c.device_id == _head.c.device_id,
            _older.c.id > _head.c.id,
        )
        .scalar_subquery()
        .label("next_id"),
    )
    .where(_head.c.id.in_(sa.bindparam("ids", expanding=True)))
    .with_for_update(of=_head)
)

_DELETE_IDS = pushes.delete().where(pushes.c.id.in_(sa.bindparam("ids", expanding=True)))

_PROMOTE_IDS = (
    pushes.update()
    .where(pushes.c.id.in_(sa.bindparam("ids", expanding=True)), pushes.c.next_attempt_at == WAITING)
    .values(next_attempt_at=sa.bindparam("now"), claimed_until=sa.bindparam("until"))
)

_LEASED_TO = _DELIVERABLE.where(
    pushes.c.id.in_(sa.bindparam("ids", expanding=True)), pushes.c.claimed_until == sa.bindparam("until")
)

_LEASED = sa.and_(pushes.c.id == sa.bindparam("b_id"), pushes.c.claimed_until == sa.bindparam("token"))

_LOCK_LEASED = sa.select(pushes.c.id).where(_LEASED).with_for_update()

_DELETE_LEASED = pushes.delete().where(_LEASED)

_RETRY_LATER = (
    pushes.update()
    .where(_LEASED)
    .values(
        attempts=sa.bindparam("attempts"),
        next_attempt_at=sa.bindparam("next_attempt_at"),
        claimed_until=None,
        last_error=sa.bindparam("error"),
    )
)

_RELEASE = pushes.update().where(_LEASED).values(claimed_until=None)


def _to_dead_letters(where: sa.ColumnElement[bool]) -> sa.Insert:
    return dead_letters.insert().from_select(
        [
            "subscription_id",
            "app_id",
            "notify_type",
            "callback_url",
            "channel",
            "device_id",
            "payload",
            "attempts",
            "last_error",
            "created_at",
            "failed_at",
        ],
        sa.select(
            pushes.c.subscription_id,
            subscriptions.c.app_id,
            subscriptions.c.notify_type,
            subscriptions.c.callback_url,
            subscriptions.c.channel,
            pushes.c.device_id,
            pushes.c.payload,
            sa.bindparam("attempts", type_=sa.Integer),
            sa.bindparam("error", type_=sa.String),
            pushes.c.created_at,
            sa.bindparam("now", type_=sa.BigInteger),
        )
        .select_from(pushes.join(subscriptions, subscriptions.c.subscription_id == pushes.c.subscription_id))
        .where(where)
        .order_by(pushes.c.id),
    )


_BURY_LEASED = _to_dead_letters(_LEASED)

# Rows behind a buried head whose own retry period is over: never tried, and too old to be worth trying.
_EXPIRED_IN_KEY = sa.and_(
    pushes.c.subscription_id == sa.bindparam("subscription_id"),
    pushes.c.device_id == sa.bindparam("device_id"),
    pushes.c.created_at < sa.bindparam("cutoff"),
)
_BURY_EXPIRED = _to_dead_letters(_EXPIRED_IN_KEY)
_DELETE_EXPIRED = pushes.delete().where(_EXPIRED_IN_KEY)


def fan_out(conn: sa.Connection, now: int, limit: int) -> int:
    """Turn up to ``limit`` outbox events, oldest first, into one push per subscription of the event's app to
    its notifyType (subscriptions as they are now), and delete them; answer how many events were taken."""
    if conn.execute(_OUTBOX_BATCH, {"limit": 1}).first() is None:
        return 0  # nothing to do: no need to hold up settling
    _exclude_settling(conn)
    ids = list(conn.execute(_OUTBOX_BATCH, {"limit": limit}).scalars())
    if not ids:
        return 0
    last_id = conn.execute(_LAST_ID).scalar_one()
    conn.execute(_FAN_OUT, {"ids": ids, "now": now})
    conn.execute(_QUEUE_BEHIND, {"last_id": last_id})
    # Exactly the rows read: on PostgreSQL an event committed meanwhile may carry a lower id than these.
    conn.execute(_DELETE_OUTBOX, {"ids": ids})
    return len(ids)


def enqueue(conn: sa.Connection, queued: Sequence[Mapping[str, Any]], now: int) -> None:
    """Queue pushes again (``subscription_id``, ``device_id``, ``payload``, ``created_at``), in the given order,
    each behind the pushes its key already has: how a replayed dead letter rejoins the queue."""
    if not queued:
        return
    _exclude_settling(conn)
    last_id = conn.execute(_LAST_ID).scalar_one()
    conn.execute(pushes.insert(), [{**row, "attempts": 0, "next_attempt_at": now} for row in queued])
    conn.execute(_QUEUE_BEHIND, {"last_id": last_id})


def _exclude_settling(conn: sa.Connection) -> None:
    _lock(conn, "pg_advisory_xact_lock")


def due(conn: sa.Connection, node: str, now: int, limit: int, busy: Sequence[str]) -> Sequence[sa.RowMapping]:
    """Heads due now, not leased and deliverable from ``node``, oldest due first, leaving out the subscriptions in
    ``busy``; on PostgreSQL they stay locked until the transaction ends, and rows locked by another node are
    skipped."""
    params = {"node": node, "now": now, "limit": limit, "busy": list(busy)}
    return conn.execute(_DUE, params).mappings().all()


def lease(conn: sa.Connection, ids: Sequence[int], until: int) -> None:
    if ids:
        conn.execute(_LEASE, {"ids": list(ids), "until": until})


def exclude_queueing(conn: sa.Connection) -> None:
    """Call first in a transaction that deletes heads: queueing (fan-out, replay) waits until it ends."""
    _lock(conn, "pg_advisory_xact_lock_shared")


def _lock(conn: sa.Connection, postgresql_function: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT {postgresql_function}({_QUEUE_LOCK})"))
    elif not getattr(conn.connection.dbapi_connection, "in_transaction", True):
        # pysqlite begins a transaction at its first write: take the write lock now, so that what is read next
        # cannot change before the commit (operator commands write from another process).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def settle_delivered(
    conn: sa.Connection, held: Sequence[tuple[int, int]], now: int, lease_until: int | None
) -> tuple[set[int], Sequence[sa.RowMapping]]:
    """Delete delivered heads, given as (id, token), whose lease is still held, and make each one's next push
    the head of its key, due now and leased until ``lease_until`` when given. Answer the ids deleted and the
    new heads leased. A handful of statements for the whole batch, each key's next found through the index."""
    if not held:
        return set(), []
    tokens = dict(held)
    heads = conn.execute(_HEADS_WITH_NEXT, {"ids": list(tokens)}).all()
    found = [row for row in heads if row.claimed_until == tokens[row.id]]
    if not found:
        return set(), []
    conn.execute(_DELETE_IDS, {"ids": [row.id for row in found]})
    following = [row.next_id for row in found if row.next_id is not None]
    leased: Sequence[sa.RowMapping] = []
    if following:
        conn.execute(_PROMOTE_IDS, {"ids": following, "now": now, "until": lease_until})
        if lease_until is not None:
            leased = conn.execute(_LEASED_TO, {"ids": following, "until": lease_until}).mappings().all()
    return {row.id for row in found}, leased


def retry_later(conn: sa.Connection, push_id: int, token: int, attempts: int, at: int, error: str) -> None:
    conn.execute(
        _RETRY_LATER,
        {"b_id": push_id, "token": token, "attempts": attempts, "next_attempt_at": at, "error": error[:1024]},
    )


def bury(
    conn: sa.Connection,
    push_id: int,
    token: int,
    *,
    subscription_id: str,
    device_id: str,
    attempts: int,
    error: str,
    now: int,
    cutoff: int,
) -> bool:
    """Move a head that failed for its whole retry period to the dead letters, with the rows behind it created
    before ``cutoff``; False when the lease was lost."""
    leased = {"b_id": push_id, "token": token}
    if conn.execute(_LOCK_LEASED, leased).first() is None:
        return False
    error = error[:1024]
    conn.execute(_BURY_LEASED, {**leased, "attempts": attempts, "error": error, "now": now})
    conn.execute(_DELETE_LEASED, leased)
    key = {"subscription_id": subscription_id, "device_id": device_id, "cutoff": cutoff}
    conn.execute(_BURY_EXPIRED, {**key, "attempts": 0, "error": error, "now": now})
    conn.execute(_DELETE_EXPIRED, key)
    return True


def promote_next(
    conn: sa.Connection, subscription_id: str, device_id: str, now: int, lease_until: int | None
) -> sa.RowMapping | None:
    """Make the oldest row of a key its head, due now, leased until ``lease_until`` when given; answer it
    when it was leased."""
    head = conn.execute(_HEAD_OF_KEY, {"subscription_id": subscription_id, "device_id": device_id}).mappings().first()
    if head is None:
        return None
    promoted = conn.execute(_PROMOTE, {"b_id": head["id"], "now": now, "until": lease_until}).rowcount == 1
    return head if promoted and lease_until is not None else None


def release(conn: sa.Connection, leases: Sequence[tuple[int, int]]) -> None:
    """Give back leases of (push id, token) not settled, so the pushes are taken again without waiting."""
    if leases:
        conn.execute(_RELEASE, [{"b_id": push_id, "token": token} for push_id, token in leases])
