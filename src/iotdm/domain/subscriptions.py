"""Subscription rules of §1.6.1-§1.6.6 (pure): notifyType vocabularies, callback URLs, channels, paging.

Each check raises the subscription family's own code: 100228 for input (DECISIONS S2 and §1.6.2's row), 100222 for
a callback URL, 100224 for an answer over 1000 subscriptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from iotdm.domain.devices import Row
from iotdm.domain.errors import E, PlatformError
from iotdm.domain.notify_types import NotifyType

# §1.6.2 L2472: what the management-data subscription takes, and only it.
MANAGEMENT_TYPES: Final = frozenset(
    {NotifyType.SW_STATE_CHANGED, NotifyType.SW_RESULT, NotifyType.FW_STATE_CHANGED, NotifyType.FW_RESULT}
)
# The SDK chapters' additions (L8219), accepted on §1.6.1 too (DECISIONS S2).
SDK_TYPES: Final = frozenset(
    {NotifyType.DEVICE_EVENT, NotifyType.SERVICE_INFO_CHANGED, NotifyType.MODEL_ADDED, NotifyType.MODEL_DELETED}
)
# §1.6.1 L2385-2388: what the service-data subscription takes.
SERVICE_TYPES: Final = frozenset(NotifyType) - MANAGEMENT_TYPES - SDK_TYPES
SUBSCRIBABLE_TYPES: Final = SERVICE_TYPES | SDK_TYPES
# §1.6.4 L2606-2609 and §1.6.6 L2756-2759 filter on all of them.
ALL_TYPES: Final = SUBSCRIBABLE_TYPES | MANAGEMENT_TYPES

MAX_CALLBACK_URL: Final = 1024  # §1.6.1 L2389 String(1024)
MAX_ANSWER: Final = 1000  # §1.6.4 L2666
DEFAULT_PAGE_SIZE: Final = 10  # §1.6.4 L2611

_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class Channel(StrEnum):
    """§1.6.1 L2390: how pushes reach the subscriber."""

    HTTP = "HTTP"
    MQTT = "MQTT"


def is_valid_callback_url(url: str) -> bool:
    """An absolute http or https URL with a host, at most 1024 characters (DECISIONS S2); the port is optional."""
    if len(url) > MAX_CALLBACK_URL or _SPACE_OR_CONTROL.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def callback_url(value: str | None) -> str:
    """The callback URL to store; a missing one is as illegal as a malformed one (100222)."""
    if value is None or not is_valid_callback_url(value):
        raise PlatformError(E.CALLBACK_URL_ILLEGAL)
    return value


def _notify_type(value: str | None, allowed: frozenset[str]) -> str:
    if value is None or value not in allowed:
        raise PlatformError(E.SUBSCRIPTION_INPUT_INVALID)
    return value


def service_notify_type(value: str | None) -> str:
    """§1.6.1: the 13 service types and the SDK's 4; a management type, unknown or missing one is 100228."""
    return _notify_type(value, SUBSCRIBABLE_TYPES)


def management_notify_type(value: str | None) -> str:
    """§1.6.2: one of the 4 upgrade types, else 100228."""
    return _notify_type(value, MANAGEMENT_TYPES)


def notify_type_filter(value: str | None) -> str | None:
    """§1.6.4/§1.6.6: absent = every type; a type that exists nowhere is 100228 (DECISIONS S2)."""
    return None if value is None else _notify_type(value, ALL_TYPES)


def _channel(value: str) -> Channel | None:
    # Matched in any case, as `bearer` is (G8).
    return Channel.__members__.get(value.upper())


def subscribe_channel(value: str | None) -> Channel:
    """§1.6.1: absent (or empty) = HTTP; MQTT or HTTP in any case; anything else is 100228."""
    if not value:
        return Channel.HTTP
    channel = _channel(value)
    if channel is None:
        raise PlatformError(E.SUBSCRIPTION_INPUT_INVALID)
    return channel


def delete_channel(value: str | None) -> Channel | None:
    """§1.6.6 L2761: absent = HTTP only; MQTT/HTTP = only that channel; any other value = nothing (None)."""
    return Channel.HTTP if value is None else _channel(value)


def owner_flag(value: str | None) -> bool:
    """§1.6.1 L2381 ``ownerFlag``: ``true`` or ``false`` in any case, absent = false; else 100228."""
    if value is None:
        return False
    flag = {"true": True, "false": False}.get(value.lower())
    if flag is None:
        raise PlatformError(E.SUBSCRIPTION_INPUT_INVALID)
    return flag


def receiving_app(app_id: str, created_by: str, owner_flag: bool) -> str:
    """The app that owns the callback (D7): with ``ownerFlag`` true the authorized app that subscribed, else the
    authorizing app whose events are pushed. The same app when the subscriber acted for itself."""
    return created_by if owner_flag else app_id


@dataclass(frozen=True)
class Paging:
    page_no: int
    page_size: int

    @property
    def offset(self) -> int:
        return self.page_no * self.page_size


def paging(page_no: int | None, page_size: int | None) -> Paging | None:
    """§1.6.4 L2610-2611: no ``pageNo`` = one unpaginated answer (``pageSize`` is then ignored); otherwise
    ``pageSize`` defaults to 10. A page of more than 1000 is refused with 100224, as an unpaginated answer over
    1000 is (``check_answer_size``)."""
    if page_no is None:
        return None
    size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    if size > MAX_ANSWER:
        raise PlatformError(E.TOO_MANY_RESULTS)
    return Paging(page_no, size)


def check_answer_size(count: int) -> None:
    """§1.6.4 L2666: an answer lists at most 1000 subscriptions."""
    if count > MAX_ANSWER:
        raise PlatformError(E.TOO_MANY_RESULTS)


def subscription_view(row: Row) -> dict[str, Any]:
    """QuerySubscriptionDTOCloud2NA (§1.6.4 L2630), also the answer of §1.6.3 (L2546)."""
    return {
        "subscriptionId": row["subscription_id"],
        "notifyType": row["notify_type"],
        "callbackUrl": row["callback_url"],
    }
