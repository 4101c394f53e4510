"""Subscriptions (§1.6.1-§1.6.6): who is told of which events, where. Delivery is the push dispatcher's.

Each request's fields are checked here, after the app acted on is settled, so a caller without the right to act
for an app hears that (403) before anything about its input.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from iotdm.domain import subscriptions as rules
from iotdm.domain.errors import E, PlatformError
from iotdm.domain.subscriptions import Channel
from iotdm.services.apps import target_app
from iotdm.services.clock import now_ms
from iotdm.store import app_clients
from iotdm.store import subscriptions as store
from iotdm.store.engine import Database
from iotdm.store.subscriptions import SubscriptionFilter


@dataclass(frozen=True)
class SubscribeRequest:
    """§1.6.1 as received: the values are checked by the service, with the subscription family's codes."""

    notify_type: str | None
    callback_url: str | None
    channel: str | None = None
    owner_flag: str | None = None
    app_id: str | None = None  # the body's ``appId`` (G5)


class Subscriptions:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def subscribe(self, caller: str, acting_for: str, req: SubscribeRequest) -> dict[str, Any]:
        """§1.6.1. ``acting_for`` is the app the query's appId settled on; the body's appId, when given, names
        the app instead. A second subscription of (app, notifyType, channel) is 409 100227 (DECISIONS S1)."""

        def insert(conn: sa.Connection) -> tuple[dict[str, Any], list[str] | None]:
            values: dict[str, Any] = {
                "subscription_id": uuid.uuid4().hex,
                "app_id": target_app(conn, caller, req.app_id) if req.app_id else acting_for,
                "created_by": caller,
                "notify_type": rules.service_notify_type(req.notify_type),
                "callback_url": rules.callback_url(req.callback_url),
                "channel": rules.subscribe_channel(req.channel).value,
                "owner_flag": rules.owner_flag(req.owner_flag),
                "created_at": now_ms(),
            }
            if not store.insert_unless_taken(conn, values):
                raise PlatformError(E.RESOURCE_CONFLICT)
            if values["channel"] != Channel.MQTT:
                return values, None  # an HTTP subscription has no MQTT clients (G3: the key stays, null)
            receiving = rules.receiving_app(values["app_id"], caller, values["owner_flag"])
            return values, list(app_clients.client_ids(conn, receiving))

        values, client_ids = await self._db.write(insert)
        return {**rules.subscription_view(values), "clientIds": client_ids}

    async def subscribe_management(
        self, caller: str, app_id: str, notify_type: str | None, callback_url: str | None
    ) -> None:
        """§1.6.2: one HTTP subscription per (app, notifyType); subscribing again moves it to the new callback URL
        and keeps its id (DECISIONS S1)."""
        values = {
            "subscription_id": uuid.uuid4().hex,
            "app_id": app_id,
            "created_by": caller,
            "notify_type": rules.management_notify_type(notify_type),
            "callback_url": rules.callback_url(callback_url),
            "channel": Channel.HTTP.value,
            "owner_flag": False,
            "created_at": now_ms(),
        }
        await self._db.write(lambda conn: store.upsert(conn, values, replace=("callback_url", "created_by")))

    async def get(self, app_id: str, subscription_id: str) -> dict[str, Any]:
        """§1.6.3; an unknown id, or another app's, is 404 100225 (as §1.6.5 answers)."""
        row = await self._db.read(lambda conn: store.get(conn, app_id, subscription_id))
        if row is None:
            raise PlatformError(E.RESOURCE_NOT_FOUND)
        return rules.subscription_view(row)

    async def query(
        self, app_id: str, notify_type: str | None, page_no: int | None, page_size: int | None
    ) -> dict[str, Any]:
        """§1.6.4: every subscription of the app (of one notifyType), paginated only when ``page_no`` is given."""
        f = SubscriptionFilter(app_id=app_id, notify_type=rules.notify_type_filter(notify_type))
        page = rules.paging(page_no, page_size)

        def read(conn: sa.Connection) -> dict[str, Any]:
            if page is None:
                rows = store.find(conn, f)
                rules.check_answer_size(len(rows))
                return {"totalCount": len(rows), "pageNo": None, "pageSize": None, "subscriptions": _views(rows)}
            total = store.count(conn, f)
            # A page past the end is empty; the database is not asked for an offset it may not even take.
            rows = store.find(conn, f, page.offset, page.page_size) if page.offset < total else []
            return {
                "totalCount": total,
                "pageNo": page.page_no,
                "pageSize": page.page_size,
                "subscriptions": _views(rows),
            }

        return await self._db.read(read)

    async def delete(self, app_id: str, subscription_id: str) -> None:
        """§1.6.5."""
        if not await self._db.write(lambda conn: store.delete(conn, app_id, subscription_id)):
            raise PlatformError(E.RESOURCE_NOT_FOUND)

    async def delete_matching(
        self, app_id: str, notify_type: str | None, callback_url: str | None, channel: str | None
    ) -> None:
        """§1.6.6: the channel rules of L2761; nothing deleted is 404 100225."""
        type_filter = rules.notify_type_filter(notify_type)
        matched_channel = rules.delete_channel(channel)
        if matched_channel is None:  # a channel other than HTTP and MQTT deletes nothing (L2761)
            raise PlatformError(E.RESOURCE_NOT_FOUND)
        f = SubscriptionFilter(app_id, type_filter, callback_url, matched_channel.value)
        if not await self._db.write(lambda conn: store.delete_matching(conn, f)):
            raise PlatformError(E.RESOURCE_NOT_FOUND)


def _views(rows: Sequence[sa.RowMapping]) -> list[dict[str, Any]]:
    return [rules.subscription_view(row) for row in rows]
