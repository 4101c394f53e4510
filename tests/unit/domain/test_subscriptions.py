from __future__ import annotations

from collections.abc import Callable

import pytest

from iotdm.domain import subscriptions as rules
from iotdm.domain.errors import PlatformError
from iotdm.domain.subscriptions import Channel, Paging


def _code(fn: Callable[..., object], *args: object) -> str:
    """The catalogue code ``fn(*args)`` raises."""
    with pytest.raises(PlatformError) as raised:
        fn(*args)
    return raised.value.error.spec.code


def test_vocabularies() -> None:
    assert len(rules.SERVICE_TYPES) == 13  # §1.6.1 L2385-2388
    assert len(rules.MANAGEMENT_TYPES) == 4  # §1.6.2 L2472
    assert len(rules.SUBSCRIBABLE_TYPES) == 17  # with the SDK's four (DECISIONS S2)
    assert len(rules.ALL_TYPES) == 21
    assert not rules.MANAGEMENT_TYPES & rules.SUBSCRIBABLE_TYPES


@pytest.mark.parametrize("notify_type", sorted(rules.SUBSCRIBABLE_TYPES))
def test_service_notify_types(notify_type: str) -> None:
    assert rules.service_notify_type(notify_type) == notify_type
    assert rules.notify_type_filter(notify_type) == notify_type
    assert _code(rules.management_notify_type, notify_type) == "100228"


@pytest.mark.parametrize("notify_type", sorted(rules.MANAGEMENT_TYPES))
def test_management_notify_types(notify_type: str) -> None:
    assert rules.management_notify_type(notify_type) == notify_type
    assert rules.notify_type_filter(notify_type) == notify_type
    assert _code(rules.service_notify_type, notify_type) == "100228"


@pytest.mark.parametrize("value", [None, "", "deviceadded", "DeviceAdded", "deviceAdded ", "unknown"])
def test_unknown_notify_types(value: str | None) -> None:
    assert _code(rules.service_notify_type, value) == "100228"
    assert _code(rules.management_notify_type, value) == "100228"


def test_notify_type_filter() -> None:
    assert rules.notify_type_filter(None) is None
    assert _code(rules.notify_type_filter, "unknown") == "100228"


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3:443/callbackurltest",
        "http://example.com",
        "HTTP://EXAMPLE.COM/cb",
        "https://example.com:8443/a/b?c=d#e",
        "http://[2001:db8::1]:8080/cb",
        "https://user:pw@example.com/cb",
        "https://example.com/" + "x" * 1004,
    ],
)
def test_legal_callback_urls(url: str) -> None:
    assert len(url) <= 1024
    assert rules.is_valid_callback_url(url)
    assert rules.callback_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.com/cb",
        "/cb",
        "//example.com/cb",
        "ftp://example.com/cb",
        "mqtt://example.com/cb",
        "http://",
        "http:///cb",
        "https://:443/cb",
        "https://example.com:65536/cb",
        "https://example.com:-1/cb",
        "https://example.com:abc/cb",
        "https://exa mple.com/cb",
        "https://example.com/c b",
        "https://example.com/cb\t",
        "https://example.com/\x7f",
        "http://[::1/cb",
        "https://example.com/" + "x" * 1005,
    ],
)
def test_illegal_callback_urls(url: str) -> None:
    assert not rules.is_valid_callback_url(url)
    assert _code(rules.callback_url, url) == "100222"


def test_missing_callback_url_is_illegal() -> None:
    assert _code(rules.callback_url, None) == "100222"


@pytest.mark.parametrize(
    ("value", "channel"),
    [(None, Channel.HTTP), ("", Channel.HTTP), ("HTTP", Channel.HTTP), ("http", Channel.HTTP), ("MQTT", Channel.MQTT)],
)
def test_subscribe_channel(value: str | None, channel: Channel) -> None:
    assert rules.subscribe_channel(value) is channel


@pytest.mark.parametrize("value", ["SMS", "HTTPS", " MQTT", "MQTT "])
def test_subscribe_channel_other_is_100228(value: str) -> None:
    assert _code(rules.subscribe_channel, value) == "100228"


@pytest.mark.parametrize(
    ("value", "channel"),
    [(None, Channel.HTTP), ("HTTP", Channel.HTTP), ("MQTT", Channel.MQTT), ("mqtt", Channel.MQTT), ("SMS", None)],
)
def test_delete_channel_follows_l2761(value: str | None, channel: Channel | None) -> None:
    assert rules.delete_channel(value) is channel


@pytest.mark.parametrize(("value", "flag"), [(None, False), ("false", False), ("FALSE", False), ("true", True)])
def test_owner_flag(value: str | None, flag: bool) -> None:
    assert rules.owner_flag(value) is flag


@pytest.mark.parametrize("value", ["yes", "1", "", "null"])
def test_owner_flag_other_is_100228(value: str) -> None:
    assert _code(rules.owner_flag, value) == "100228"


def test_receiving_app() -> None:
    assert rules.receiving_app("owner", "partner", owner_flag=False) == "owner"
    assert rules.receiving_app("owner", "partner", owner_flag=True) == "partner"
    assert rules.receiving_app("self", "self", owner_flag=True) == "self"


def test_paging() -> None:
    assert rules.paging(None, None) is None
    assert rules.paging(None, 5000) is None  # pageSize alone does not paginate (L2610)
    assert rules.paging(0, None) == Paging(0, 10)
    assert rules.paging(3, 7) == Paging(3, 7)
    assert Paging(3, 7).offset == 21
    assert rules.paging(0, 1000) == Paging(0, 1000)
    assert _code(rules.paging, 0, 1001) == "100224"


def test_answer_size() -> None:
    rules.check_answer_size(1000)
    assert _code(rules.check_answer_size, 1001) == "100224"


def test_subscription_view() -> None:
    row = {"subscription_id": "s1", "notify_type": "deviceAdded", "callback_url": "https://x/cb", "channel": "MQTT"}
    assert rules.subscription_view(row) == {
        "subscriptionId": "s1",
        "notifyType": "deviceAdded",
        "callbackUrl": "https://x/cb",
    }
