"""Operator endpoints for dead letters (DECISIONS S3): pushes given up on, to inspect, replay or delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from iotdm.northbound.admin.routes import require_admin
from iotdm.northbound.deps import Svc
from iotdm.northbound.responses import empty, json_body
from iotdm.store.dead_letters import DeadLetterFilter

router = APIRouter(prefix="/admin/dead-letters", tags=["Operators"], dependencies=[Depends(require_admin)])

AppFilter = Annotated[str | None, Query(alias="appId", description="Only the dead letters of this app.")]
SubscriptionFilter = Annotated[str | None, Query(alias="subscriptionId", description="Only this subscription's.")]
TypeFilter = Annotated[str | None, Query(alias="notifyType", description="Only pushes of this notifyType.")]


class DeadLetterOut(BaseModel):
    id: int
    subscriptionId: str
    appId: str
    notifyType: str
    callbackUrl: str
    channel: str
    deviceId: str | None
    attempts: int = Field(description="Delivery attempts made before giving up.")
    lastError: str | None
    createdAt: str = Field(description="When the push was queued.")
    failedAt: str = Field(description="When it was given up on.")


class DeadLetterDetailOut(DeadLetterOut):
    payload: dict[str, Any] = Field(description="The push body as it would be POSTed.")


class DeadLetterPageOut(BaseModel):
    totalCount: int
    offset: int
    limit: int
    deadLetters: list[DeadLetterOut] = Field(description="Newest failure first.")


class ReplayedOut(BaseModel):
    replayed: int = Field(description="Dead letters queued again (and removed).")
    orphaned: list[int] = Field(description="Ids kept because their subscription no longer exists.")


def _not_replayable(dead_letter_id: int, subscription_id: str) -> Response:
    detail = (
        f"dead letter {dead_letter_id} cannot be replayed: its subscription {subscription_id} no longer exists;"
        " delete it instead"
    )
    return json_body({"detail": detail}, 409)


@router.get("", responses={200: {"model": DeadLetterPageOut}})
async def list_dead_letters(
    svc: Svc,
    app_id: AppFilter = None,
    subscription_id: SubscriptionFilter = None,
    notify_type: TypeFilter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The dead letters that match, newest failure first, without their payloads."""
    f = DeadLetterFilter(app_id=app_id, subscription_id=subscription_id, notify_type=notify_type)
    found = await svc.dead_letters.list(f, offset, limit)
    letters = [letter.json(payload=False) for letter in found.letters]
    return json_body({"totalCount": found.total, "offset": offset, "limit": limit, "deadLetters": letters})


@router.post("/replay", responses={200: {"model": ReplayedOut}})
async def replay_dead_letters(
    svc: Svc, app_id: AppFilter = None, subscription_id: SubscriptionFilter = None, notify_type: TypeFilter = None
) -> Response:
    """Queue every matching dead letter again (all of them without filters); those whose subscription is gone
    are kept and listed."""
    f = DeadLetterFilter(app_id=app_id, subscription_id=subscription_id, notify_type=notify_type)
    outcome = await svc.dead_letters.replay(f)
    return json_body({"replayed": len(outcome.replayed), "orphaned": outcome.orphaned})


@router.get("/{dead_letter_id}", responses={200: {"model": DeadLetterDetailOut}, 404: {"description": "None."}})
async def get_dead_letter(dead_letter_id: int, svc: Svc) -> Response:
    letter = await svc.dead_letters.get(dead_letter_id)
    return empty(404) if letter is None else json_body(letter.json())


@router.post(
    "/{dead_letter_id}/replay",
    status_code=204,
    responses={404: {"description": "No such dead letter."}, 409: {"description": "Its subscription is gone."}},
)
async def replay_dead_letter(dead_letter_id: int, svc: Svc) -> Response:
    """Queue the push again as a fresh one of its subscription (attempts from 0, due now) and remove the letter."""
    letter = await svc.dead_letters.get(dead_letter_id)
    if letter is None:
        return empty(404)
    outcome = await svc.dead_letters.replay(DeadLetterFilter(ids=(dead_letter_id,)))
    if outcome.orphaned:
        return _not_replayable(dead_letter_id, letter.subscription_id)
    # Replayed, or replayed by someone else since the read: gone either way.
    return empty(204 if outcome.replayed else 404)


@router.delete("/{dead_letter_id}", status_code=204, responses={404: {"description": "No such dead letter."}})
async def delete_dead_letter(dead_letter_id: int, svc: Svc) -> Response:
    deleted = await svc.dead_letters.purge(DeadLetterFilter(ids=(dead_letter_id,)))
    return empty(204 if deleted else 404)
