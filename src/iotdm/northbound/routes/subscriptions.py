"""§1.6.1-§1.6.6 Subscription management: subscribe (service and management data), query, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from iotdm.domain.errors import E
from iotdm.northbound.deps import CallerApp, Svc, TargetApp
from iotdm.northbound.dto.subscriptions import (
    SubscribedOut,
    SubscribeIn,
    SubscribeManagementIn,
    SubscriptionOut,
    SubscriptionsPageOut,
)
from iotdm.northbound.responses import empty, json_body
from iotdm.northbound.validation import on_invalid
from iotdm.services.subscriptions import SubscribeRequest

router = APIRouter(tags=["1.6 Subscription management"])

_SUBSCRIPTIONS = "/iocm/app/sub/v1.2.0/subscriptions"
_SUBSCRIPTION = _SUBSCRIPTIONS + "/{subscriptionId}"
_LONG_MAX = 2**63 - 1  # pageNo is a Java Long in the reference

# The family answers bad input with 100228 (§1.6.2's row, DECISIONS S2), a callback URL that is not a string
# with 100222.
_INVALID = E.SUBSCRIPTION_INPUT_INVALID
_BAD_URL = E.CALLBACK_URL_ILLEGAL
_OWNER_FLAG_DOC = "true: the callback URL belongs to the authorized app; false (default): to the authorizing app."
_NOTIFY_TYPE_DOC = "Only subscriptions of this notification type."


@router.post(_SUBSCRIPTIONS, status_code=201, responses={201: {"model": SubscribedOut}})
@on_invalid(_INVALID, callbackUrl=_BAD_URL, callbackurl=_BAD_URL)
async def subscribe(
    body: SubscribeIn,
    app_id: TargetApp,
    caller: CallerApp,
    svc: Svc,
    ownerFlag: Annotated[str | None, Query(description=_OWNER_FLAG_DOC)] = None,
) -> Response:
    """§1.6.1 L2358: subscribe to service data notifications (one per notifyType and channel)."""
    req = SubscribeRequest(body.notifyType, body.callbackUrl, body.channel, ownerFlag, body.appId)
    return json_body(await svc.subscriptions.subscribe(caller, app_id, req), 201)


@router.post("/iodm/app/sub/v1.1.0/subscribe", status_code=200)
@on_invalid(_INVALID, callbackUrl=_BAD_URL, callbackurl=_BAD_URL)
async def subscribe_management(body: SubscribeManagementIn, app_id: TargetApp, caller: CallerApp, svc: Svc) -> Response:
    """§1.6.2 L2449: subscribe to software and firmware upgrade notifications; subscribing again to a type moves
    it to the new callback URL."""
    await svc.subscriptions.subscribe_management(caller, app_id, body.notifyType, body.callbackUrl)
    return empty(200)


@router.get(_SUBSCRIPTION, responses={200: {"model": SubscriptionOut}})
async def query_subscription(subscriptionId: str, app_id: TargetApp, svc: Svc) -> Response:
    """§1.6.3 L2517: one subscription."""
    return json_body(await svc.subscriptions.get(app_id, subscriptionId))


@router.get(_SUBSCRIPTIONS, responses={200: {"model": SubscriptionsPageOut}})
@on_invalid(_INVALID)
async def query_subscriptions(
    app_id: TargetApp,
    svc: Svc,
    notifyType: Annotated[str | None, Query(description=_NOTIFY_TYPE_DOC)] = None,
    pageNo: Annotated[int | None, Query(ge=0, le=_LONG_MAX, description="Absent: no pagination.")] = None,
    pageSize: Annotated[int | None, Query(ge=1, description="Default 10, at most 1000.")] = None,
) -> Response:
    """§1.6.4 L2582: the app's subscriptions, oldest first."""
    return json_body(await svc.subscriptions.query(app_id, notifyType, pageNo, pageSize))


@router.delete(_SUBSCRIPTION, status_code=204)
async def delete_subscription(subscriptionId: str, app_id: TargetApp, svc: Svc) -> Response:
    """§1.6.5 L2673: delete one subscription."""
    await svc.subscriptions.delete(app_id, subscriptionId)
    return empty(204)


@router.delete(_SUBSCRIPTIONS, status_code=204)
async def delete_subscriptions(
    app_id: TargetApp,
    svc: Svc,
    notifyType: Annotated[str | None, Query(description=_NOTIFY_TYPE_DOC)] = None,
    callbackUrl: Annotated[str | None, Query(description="Only subscriptions to this callback URL.")] = None,
    channel: Annotated[
        str | None, Query(description="Absent or HTTP: HTTP subscriptions; MQTT: MQTT ones; other: none.")
    ] = None,
) -> Response:
    """§1.6.6 L2732: delete the app's subscriptions matching every given filter."""
    await svc.subscriptions.delete_matching(app_id, notifyType, callbackUrl, channel)
    return empty(204)
