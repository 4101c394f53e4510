"""Queries on subscriptions (§1.6.1-§1.6.6). One row per (app, notifyType, channel) (DECISIONS S1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from iotdm.store import conflicts
from iotdm.store.schema import subscriptions

_KEY = ["app_id", "notify_type", "channel"]
_ORDER = (subscriptions.c.created_at, subscriptions.c.subscription_id)


@dataclass(frozen=True)
class SubscriptionFilter:
    """The filters of §1.6.4 and §1.6.6; None means "not filtered"."""

    app_id: str
    notify_type: str | None = None
    callback_url: str | None = None
    channel: str | None = None


def insert_unless_taken(conn: sa.Connection, values: dict[str, Any]) -> bool:
    """Insert the subscription; False when its (app, notifyType, channel) already has one."""
    statement = conflicts.insert(conn, subscriptions).values(**values).on_conflict_do_nothing(index_elements=_KEY)
    inserted = conn.execute(statement.returning(subscriptions.c.subscription_id))
    return inserted.first() is not None


def upsert(conn: sa.Connection, values: dict[str, Any], replace: Sequence[str]) -> None:
    """Insert the subscription, or set the ``replace`` columns of the one its (app, notifyType, channel) has."""
    statement = conflicts.insert(conn, subscriptions).values(**values)
    conn.execute(statement.on_conflict_do_update(index_elements=_KEY, set_={c: statement.excluded[c] for c in replace}))


def get(conn: sa.Connection, app_id: str, subscription_id: str) -> sa.RowMapping | None:
    result = conn.execute(
        subscriptions.select().where(
            subscriptions.c.subscription_id == subscription_id, subscriptions.c.app_id == app_id
        )
    )
    return result.mappings().first()


def _where(f: SubscriptionFilter) -> list[sa.ColumnElement[bool]]:
    exact = {
        subscriptions.c.app_id: f.app_id,
        subscriptions.c.notify_type: f.notify_type,
        subscriptions.c.callback_url: f.callback_url,
        subscriptions.c.channel: f.channel,
    }
    return [column == value for column, value in exact.items() if value is not None]


def count(conn: sa.Connection, f: SubscriptionFilter) -> int:
    result = conn.execute(sa.select(sa.func.count()).select_from(subscriptions).where(*_where(f)))
    return int(result.scalar_one())


def find(
    conn: sa.Connection, f: SubscriptionFilter, offset: int = 0, limit: int | None = None
) -> Sequence[sa.RowMapping]:
    """Oldest first (creation time, then id: DECISIONS G7)."""
    query = subscriptions.select().where(*_where(f)).order_by(*_ORDER).offset(offset).limit(limit)
    return conn.execute(query).mappings().all()


def delete(conn: sa.Connection, app_id: str, subscription_id: str) -> bool:
    result = conn.execute(
        subscriptions.delete().where(
            subscriptions.c.subscription_id == subscription_id, subscriptions.c.app_id == app_id
        )
    )
    return result.rowcount > 0


def delete_matching(conn: sa.Connection, f: SubscriptionFilter) -> int:
    return conn.execute(subscriptions.delete().where(*_where(f))).rowcount


_LISTENED = (
    sa.select(subscriptions.c.app_id, subscriptions.c.notify_type)
    .where(subscriptions.c.app_id.in_(sa.bindparam("app_ids", expanding=True)))
    .distinct()
)


def listened_to(conn: sa.Connection, app_ids: Sequence[str]) -> set[tuple[str, str]]:
    """The (appId, notifyType) pairs of ``app_ids`` that have a subscription: events of the others reach nobody."""
    return {(row.app_id, row.notify_type) for row in conn.execute(_LISTENED, {"app_ids": list(app_ids)})}
