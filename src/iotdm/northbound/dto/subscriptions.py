"""§1.6.1-§1.6.6 subscription request and response bodies.

Request fields are typed loosely: whether a notifyType, callback URL or channel is acceptable is the domain's
rule (domain.subscriptions), answered with the subscription family's codes.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, model_validator


class _CallbackIn(BaseModel):
    notifyType: str | None = Field(None, description="Mandatory.")
    # The Java SDK spells it ``callbackurl`` (L8273).
    callbackUrl: str | None = Field(
        None,
        validation_alias=AliasChoices("callbackUrl", "callbackurl"),
        description="Mandatory: an absolute http or https URL, at most 1024 characters.",
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # The first alias present wins, so an explicit null under one spelling would hide the URL under the
        # other; null means absent (G8).
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class SubscribeIn(_CallbackIn):
    """§1.6.1 L2358."""

    appId: str | None = Field(None, description="Subscribe to the events of this authorized app.")
    channel: str | None = Field(None, description="HTTP (default) or MQTT.")


class SubscribeManagementIn(_CallbackIn):
    """§1.6.2 L2449."""


class SubscriptionOut(BaseModel):
    """§1.6.3 L2546 and QuerySubscriptionDTOCloud2NA (§1.6.4 L2630)."""

    subscriptionId: str
    notifyType: str
    callbackUrl: str


class SubscribedOut(SubscriptionOut):
    """§1.6.1 L2394."""

    clientIds: list[str] | None = Field(description="The app's connected MQTT client ids; null for HTTP.")


class SubscriptionsPageOut(BaseModel):
    """§1.6.4 L2618; without pageNo the answer is not paginated and pageNo, pageSize are null."""

    totalCount: int
    pageNo: int | None
    pageSize: int | None
    subscriptions: list[SubscriptionOut]
