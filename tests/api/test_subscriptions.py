"""§1.6.1-§1.6.6 subscription management: subscribing to service data (notifyTypes, callback URL, channel, S1
conflicts) and management data (upsert), querying one and in batches (filter, paging, the 1000 cap), deleting one
and in batches (the channel rules of L2761), the appId parameter (G5), authentication and flow control."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.harness import App, PlatformThread, assert_error

SUBS = "/iocm/app/sub/v1.2.0/subscriptions"
MGMT = "/iodm/app/sub/v1.1.0/subscribe"
CALLBACK = "https://10.1.2.3:443/callbackurltest"

SERVICE_TYPES = [
    "deviceAdded",
    "bindDevice",
    "deviceInfoChanged",
    "deviceDataChanged",
    "deviceDatasChanged",
    "deviceCapabilitiesChanged",
    "deviceCapabilitiesAdded",
    "deviceCapabilitiesDeleted",
    "deviceDeleted",
    "messageConfirm",
    "commandRsp",
    "ruleEvent",
    "deviceDesiredPropertiesModifyStatusChanged",
]
SDK_TYPES = ["deviceEvent", "serviceInfoChanged", "deviceModelAdded", "deviceModelDeleted"]
MANAGEMENT_TYPES = [
    "swUpgradeStateChangeNotify",
    "swUpgradeResultNotify",
    "fwUpgradeStateChangeNotify",
    "fwUpgradeResultNotify",
]


# ---------------------------------------------------------------------------------------------------- helpers


def subscribe(
    app: App, notify_type: str = "deviceAdded", url: str = CALLBACK, params: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    r = app.http.post(SUBS, params=params, json={"notifyType": notify_type, "callbackUrl": url, **body})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    answer: dict[str, Any] = r.json()
    return answer


def subscribe_management(app: App, notify_type: str, url: str = CALLBACK, **params: str) -> None:
    r = app.http.post(MGMT, params=params, json={"notifyType": notify_type, "callbackUrl": url})
    assert r.status_code == 200, r.text
    assert r.content == b""


def listing(app: App, **params: Any) -> dict[str, Any]:
    r = app.http.get(SUBS, params=params)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def listed(app: App, **params: Any) -> list[tuple[str, str]]:
    """(notifyType, callbackUrl) of every subscription the app lists, in the answer's order."""
    return [(s["notifyType"], s["callbackUrl"]) for s in listing(app, **params)["subscriptions"]]


def authorize(node: PlatformThread, owner: App, partner: App) -> None:
    with node.admin() as admin:
        r = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": partner.app_id})
        assert r.status_code == 204, r.text


# ---------------------------------------------------------------------------------------------------- §1.6.1


def test_subscribe_answers_201_with_the_subscription(app: App) -> None:
    created = subscribe(app, "deviceInfoChanged")
    assert set(created) == {"subscriptionId", "notifyType", "callbackUrl", "clientIds"}
    assert isinstance(created["subscriptionId"], str) and 0 < len(created["subscriptionId"]) <= 64
    assert created["notifyType"] == "deviceInfoChanged"
    assert created["callbackUrl"] == CALLBACK
    assert created["clientIds"] is None  # an HTTP subscription (G3: the key is there, null)
    r = app.http.get(f"{SUBS}/{created['subscriptionId']}")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "subscriptionId": created["subscriptionId"],
        "notifyType": "deviceInfoChanged",
        "callbackUrl": CALLBACK,
    }


def test_every_service_and_sdk_notify_type_is_accepted(app: App) -> None:
    ids = {subscribe(app, notify_type)["subscriptionId"] for notify_type in SERVICE_TYPES + SDK_TYPES}
    assert len(ids) == 17
    assert sorted(t for t, _ in listed(app)) == sorted(SERVICE_TYPES + SDK_TYPES)


@pytest.mark.parametrize("notify_type", MANAGEMENT_TYPES)
def test_management_types_are_refused_on_the_service_api(app: App, notify_type: str) -> None:
    r = app.http.post(SUBS, json={"notifyType": notify_type, "callbackUrl": CALLBACK})
    assert_error(r, 400, "100228")
    assert listing(app)["totalCount"] == 0


@pytest.mark.parametrize("notify_type", ["unknown", "deviceadded", "DEVICEADDED", "", " deviceAdded", None, 5, ["x"]])
def test_unknown_or_missing_notify_type_is_100228(app: App, notify_type: Any) -> None:
    assert_error(app.http.post(SUBS, json={"notifyType": notify_type, "callbackUrl": CALLBACK}), 400, "100228")
    assert_error(app.http.post(SUBS, json={"callbackUrl": CALLBACK}), 400, "100228")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://10.1.2.3/cb",
        "callbackurltest",
        "/callbackurltest",
        "//10.1.2.3/cb",
        "http://",
        "https://:443/cb",
        "https://10.1.2.3:99999/cb",
        "https://10.1.2.3:port/cb",
        "https://10.1.2.3/call back",
        " https://10.1.2.3/cb",
        "https://10.1.2.3/cb\n",
        "",
        "https://example.com/" + "x" * 1005,  # 1025 characters
        5,
        {"url": CALLBACK},
    ],
)
def test_illegal_callback_url_is_100222(app: App, url: Any) -> None:
    assert_error(app.http.post(SUBS, json={"notifyType": "deviceAdded", "callbackUrl": url}), 400, "100222")
    assert listing(app)["totalCount"] == 0


def test_missing_callback_url_is_100222(app: App) -> None:
    assert_error(app.http.post(SUBS, json={"notifyType": "deviceAdded"}), 400, "100222")
    assert_error(app.http.post(SUBS, json={"notifyType": "deviceAdded", "callbackUrl": None}), 400, "100222")


def test_legal_callback_urls(app: App) -> None:
    urls = [
        "http://10.1.2.3:8080/cb",  # HTTP as well as HTTPS (L2389)
        "https://example.com/cb",  # no port
        "HTTPS://Example.COM:443",
        "http://[::1]:8080/cb?x=1",
        "https://example.com/" + "x" * 1004,  # exactly 1024 characters
    ]
    for notify_type, url in zip(SERVICE_TYPES[: len(urls)], urls, strict=True):
        assert subscribe(app, notify_type, url)["callbackUrl"] == url
    assert sorted(u for _, u in listed(app)) == sorted(urls)


def test_second_subscription_of_a_type_and_channel_is_409(make_app: Callable[..., App], app: App) -> None:
    first = subscribe(app, "deviceDataChanged")
    r = app.http.post(SUBS, json={"notifyType": "deviceDataChanged", "callbackUrl": "https://other.example/cb"})
    assert_error(r, 409, "100227")
    r = app.http.post(SUBS, json={"notifyType": "deviceDataChanged", "callbackUrl": CALLBACK, "channel": "HTTP"})
    assert_error(r, 409, "100227")
    # Another channel, another app: subscriptions of their own.
    subscribe(app, "deviceDataChanged", channel="MQTT")
    assert_error(
        app.http.post(SUBS, json={"notifyType": "deviceDataChanged", "callbackUrl": CALLBACK, "channel": "MQTT"}),
        409,
        "100227",
    )
    subscribe(make_app(), "deviceDataChanged")
    assert app.http.get(f"{SUBS}/{first['subscriptionId']}").json()["callbackUrl"] == CALLBACK  # unchanged
    assert listing(app)["totalCount"] == 2
    # Once deleted, the type can be subscribed again.
    assert app.http.delete(f"{SUBS}/{first['subscriptionId']}").status_code == 204
    assert subscribe(app, "deviceDataChanged", "https://other.example/cb")["subscriptionId"] != first["subscriptionId"]


def test_concurrent_subscriptions_of_one_type_make_one(app: App) -> None:
    clients = [app.node.client() for _ in range(4)]
    for client in clients:
        client.headers.update(app.http.headers)
    body = {"notifyType": "deviceDeleted", "callbackUrl": CALLBACK}
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            statuses = sorted(pool.map(lambda c: c.post(SUBS, json=body).status_code, clients))
    finally:
        for client in clients:
            client.close()
    assert statuses == [201, 409, 409, 409]
    assert listing(app)["totalCount"] == 1


def test_channel(app: App) -> None:
    assert subscribe(app, "deviceAdded", channel="HTTP")["clientIds"] is None
    mqtt = subscribe(app, "deviceAdded", channel="MQTT")
    assert mqtt == {
        "subscriptionId": mqtt["subscriptionId"],
        "notifyType": "deviceAdded",
        "callbackUrl": CALLBACK,
        "clientIds": [],  # no MQTT client of the app is connected
    }
    # Any case names the channel; empty or null means the default, HTTP.
    assert_error(
        app.http.post(SUBS, json={"notifyType": "deviceAdded", "callbackUrl": CALLBACK, "channel": "mqtt"}),
        409,
        "100227",
    )
    assert subscribe(app, "bindDevice", channel="")["clientIds"] is None
    assert subscribe(app, "deviceDeleted", channel=None)["clientIds"] is None
    assert_error(
        app.http.post(SUBS, json={"notifyType": "bindDevice", "callbackUrl": CALLBACK, "channel": "Http"}),
        409,
        "100227",
    )
    for bad in ("SMS", "HTTPS", " MQTT", 1):
        r = app.http.post(SUBS, json={"notifyType": "ruleEvent", "callbackUrl": CALLBACK, "channel": bad})
        assert_error(r, 400, "100228")
    # Only MQTT subscriptions go with channel=MQTT (§1.6.6), so the lowercase one above was stored as MQTT.
    assert app.http.delete(SUBS, params={"channel": "MQTT"}).status_code == 204
    assert sorted(t for t, _ in listed(app)) == ["bindDevice", "deviceAdded", "deviceDeleted"]


def test_owner_flag_is_true_or_false(app: App) -> None:
    subscribe(app, "deviceAdded", params={"ownerFlag": "true"})
    subscribe(app, "bindDevice", params={"ownerFlag": "False"})
    subscribe(app, "deviceDeleted", params={"ownerFlag": ""})  # empty = absent (G8)
    for bad in ("yes", "1", "null"):
        r = app.http.post(SUBS, params={"ownerFlag": bad}, json={"notifyType": "ruleEvent", "callbackUrl": CALLBACK})
        assert_error(r, 400, "100228")


def test_null_fields_and_the_sdk_spelling(app: App) -> None:
    body = {"notifyType": "deviceAdded", "callbackUrl": CALLBACK, "appId": None, "channel": None, "extra": 1}
    r = app.http.post(SUBS, json=body)
    assert r.status_code == 201, r.text
    r = app.http.post(SUBS, json={"notifyType": "bindDevice", "callbackurl": CALLBACK, "callbackUrl": None})
    assert r.status_code == 201, r.text
    assert r.json()["callbackUrl"] == CALLBACK


def test_malformed_body(app: App) -> None:
    for raw in (b"{not json", b"[]", b'"deviceAdded"', b""):
        assert_error(app.http.post(SUBS, content=raw, headers={"Content-Type": "application/json"}), 400, "100228")
    with app.node.client() as anonymous:
        r = anonymous.post(SUBS, content=b"{not json", headers={"app_key": app.app_id, "Authorization": "Bearer x"})
        assert_error(r, 403, "1010005")
        assert_error(anonymous.post(MGMT, content=b"{not json"), 401, "100025")


# ---------------------------------------------------------------------------------------------------- appId (G5)


def test_subscribe_on_behalf_of_an_authorized_app(node: PlatformThread, make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    body = {"notifyType": "deviceAdded", "callbackUrl": CALLBACK, "appId": owner.app_id}
    assert_error(app.http.post(SUBS, json=body), 403, "100217")
    assert_error(app.http.post(SUBS, json={**body, "appId": "no-such-app"}), 403, "100203")
    # Not being allowed comes before the input: a bad notifyType still hears 100217.
    assert_error(app.http.post(SUBS, json={**body, "notifyType": "nope"}), 403, "100217")
    authorize(node, owner, app)
    created = subscribe(app, **body)
    # The subscription is the owner's (its events are the owner's), not the partner's own.
    assert listing(owner)["subscriptions"] == [{k: v for k, v in created.items() if k != "clientIds"}]
    assert listing(app)["totalCount"] == 0
    assert listing(app, appId=owner.app_id)["totalCount"] == 1
    # S1 holds per app acted on: the owner already has deviceAdded over HTTP.
    assert_error(owner.http.post(SUBS, json={"notifyType": "deviceAdded", "callbackUrl": CALLBACK}), 409, "100227")
    # Own appId = as if omitted.
    own = subscribe(app, "deviceAdded", appId=app.app_id)
    assert listing(app)["subscriptions"][0]["subscriptionId"] == own["subscriptionId"]


def test_app_id_in_the_query_is_honoured_too(node: PlatformThread, make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    r = app.http.post(
        SUBS, params={"appId": "no-such-app"}, json={"notifyType": "deviceAdded", "callbackUrl": CALLBACK}
    )
    assert_error(r, 403, "100203")
    authorize(node, owner, app)
    subscribe(app, "deviceAdded", params={"appId": owner.app_id})
    assert listed(owner) == [("deviceAdded", CALLBACK)]


# ---------------------------------------------------------------------------------------------------- §1.6.2


def test_management_subscription(app: App) -> None:
    for notify_type in MANAGEMENT_TYPES:
        subscribe_management(app, notify_type)
    assert sorted(listed(app)) == sorted((t, CALLBACK) for t in MANAGEMENT_TYPES)
    one = listing(app, notifyType="swUpgradeResultNotify")["subscriptions"]
    assert len(one) == 1 and set(one[0]) == {"subscriptionId", "notifyType", "callbackUrl"}
    r = app.http.get(f"{SUBS}/{one[0]['subscriptionId']}")
    assert r.json() == one[0]


def test_management_subscription_again_moves_the_callback(app: App) -> None:
    subscribe_management(app, "fwUpgradeResultNotify", "https://first.example/cb")
    before = listing(app)["subscriptions"]
    subscribe_management(app, "fwUpgradeResultNotify", "http://second.example:8080/cb")
    after = listing(app)["subscriptions"]
    assert after == [{**before[0], "callbackUrl": "http://second.example:8080/cb"}]  # same id, new URL


def test_management_subscription_errors(app: App) -> None:
    for notify_type in [*SERVICE_TYPES, *SDK_TYPES, "unknown", None, 3]:
        r = app.http.post(MGMT, json={"notifyType": notify_type, "callbackUrl": CALLBACK})
        assert_error(r, 400, "100228")
    assert_error(app.http.post(MGMT, json={"callbackUrl": CALLBACK}), 400, "100228")
    for url in ("ftp://x/cb", "cb", None, "", 7, "https://x.example/" + "x" * 1010):
        r = app.http.post(MGMT, json={"notifyType": "swUpgradeStateChangeNotify", "callbackUrl": url})
        assert_error(r, 400, "100222")
    assert_error(app.http.post(MGMT, json={"notifyType": "swUpgradeStateChangeNotify"}), 400, "100222")
    assert_error(app.http.post(MGMT, content=b"{", headers={"Content-Type": "application/json"}), 400, "100228")
    assert listing(app)["totalCount"] == 0


def test_management_subscription_sdk_spelling(app: App) -> None:
    r = app.http.post(MGMT, json={"notifyType": "swUpgradeStateChangeNotify", "callbackurl": CALLBACK})
    assert r.status_code == 200, r.text
    assert listed(app) == [("swUpgradeStateChangeNotify", CALLBACK)]


def test_management_subscription_for_an_authorized_app(
    node: PlatformThread, make_app: Callable[..., App], app: App
) -> None:
    owner = make_app()
    body = {"notifyType": "swUpgradeResultNotify", "callbackUrl": CALLBACK}
    assert_error(app.http.post(MGMT, params={"appId": "no-such-app"}, json=body), 403, "100203")
    assert_error(app.http.post(MGMT, params={"appId": owner.app_id}, json=body), 403, "100217")
    authorize(node, owner, app)
    subscribe_management(app, "swUpgradeResultNotify", appId=owner.app_id)
    assert listed(owner) == [("swUpgradeResultNotify", CALLBACK)]
    assert listed(app) == []


# ---------------------------------------------------------------------------------------------------- §1.6.3


def test_query_one_unknown_or_foreign_is_404(make_app: Callable[..., App], app: App) -> None:
    assert_error(app.http.get(f"{SUBS}/no-such-subscription"), 404, "100225")
    other = make_app()
    foreign = subscribe(other, "deviceAdded")
    assert_error(app.http.get(f"{SUBS}/{foreign['subscriptionId']}"), 404, "100225")
    assert other.http.get(f"{SUBS}/{foreign['subscriptionId']}").status_code == 200


def test_query_one_of_an_authorized_app(node: PlatformThread, make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    sub = subscribe(owner, "deviceAdded")
    path = f"{SUBS}/{sub['subscriptionId']}"
    assert_error(app.http.get(path, params={"appId": owner.app_id}), 403, "100217")
    assert_error(app.http.get(path, params={"appId": "no-such-app"}), 403, "100203")
    authorize(node, owner, app)
    assert app.http.get(path, params={"appId": owner.app_id}).json()["subscriptionId"] == sub["subscriptionId"]
    assert_error(app.http.get(path), 404, "100225")
    assert owner.http.get(path, params={"appId": owner.app_id}).status_code == 200  # own appId = omitted


# ---------------------------------------------------------------------------------------------------- §1.6.4


def test_query_without_page_no_is_unpaginated(app: App) -> None:
    assert listing(app) == {"totalCount": 0, "pageNo": None, "pageSize": None, "subscriptions": []}
    for notify_type in SERVICE_TYPES:
        subscribe(app, notify_type)
    subscribe(app, "deviceAdded", channel="MQTT")
    subscribe_management(app, "swUpgradeResultNotify")
    answer = listing(app)
    assert set(answer) == {"totalCount", "pageNo", "pageSize", "subscriptions"}
    assert answer["totalCount"] == 15 == len(answer["subscriptions"])
    assert answer["pageNo"] is None and answer["pageSize"] is None
    # pageSize alone does not paginate (L2610); empty values are absent (G8).
    assert listing(app, pageSize=2) == answer
    assert listing(app, pageNo="", pageSize="") == answer


def test_query_filters_by_notify_type(app: App) -> None:
    subscribe(app, "deviceAdded")
    subscribe(app, "deviceAdded", "https://mqtt.example/cb", channel="MQTT")
    subscribe(app, "bindDevice")
    subscribe_management(app, "fwUpgradeStateChangeNotify")
    assert sorted(listed(app, notifyType="deviceAdded")) == [
        ("deviceAdded", CALLBACK),
        ("deviceAdded", "https://mqtt.example/cb"),
    ]
    assert listing(app, notifyType="deviceAdded")["totalCount"] == 2
    assert listed(app, notifyType="fwUpgradeStateChangeNotify") == [("fwUpgradeStateChangeNotify", CALLBACK)]
    assert listing(app, notifyType="deviceModelAdded")["totalCount"] == 0
    assert_error(app.http.get(SUBS, params={"notifyType": "nope"}), 400, "100228")


def test_query_pages_oldest_first(app: App) -> None:
    created = []
    for notify_type in SERVICE_TYPES[:12]:
        created.append(subscribe(app, notify_type)["subscriptionId"])
        time.sleep(0.002)  # distinct creation times, so the order is the creation order
    first = listing(app, pageNo=0)
    assert (first["totalCount"], first["pageNo"], first["pageSize"]) == (12, 0, 10)  # pageSize defaults to 10
    assert [s["subscriptionId"] for s in first["subscriptions"]] == created[:10]
    second = listing(app, pageNo=1)
    assert [s["subscriptionId"] for s in second["subscriptions"]] == created[10:]
    fives = [listing(app, pageNo=n, pageSize=5) for n in range(3)]
    assert [s["subscriptionId"] for page in fives for s in page["subscriptions"]] == created
    assert [(p["pageNo"], p["pageSize"], p["totalCount"]) for p in fives] == [(0, 5, 12), (1, 5, 12), (2, 5, 12)]
    assert [s["subscriptionId"] for s in listing(app)["subscriptions"]] == created
    past = listing(app, pageNo=2**63 - 1, pageSize=1000)
    assert (past["totalCount"], past["subscriptions"]) == (12, [])


def test_query_paging_limits(app: App) -> None:
    subscribe(app)
    assert listing(app, pageNo=0, pageSize=1000)["pageSize"] == 1000
    assert_error(app.http.get(SUBS, params={"pageNo": 0, "pageSize": 1001}), 400, "100224")
    for bad in ({"pageNo": -1}, {"pageNo": "x"}, {"pageNo": 2**63}, {"pageNo": 0, "pageSize": 0}, {"pageSize": -1}):
        assert_error(app.http.get(SUBS, params=bad), 400, "100228")


def test_query_of_an_authorized_app(node: PlatformThread, make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    subscribe(owner, "deviceAdded")
    subscribe(app, "bindDevice")
    assert_error(app.http.get(SUBS, params={"appId": owner.app_id}), 403, "100217")
    assert_error(app.http.get(SUBS, params={"appId": "no-such-app"}), 403, "100203")
    authorize(node, owner, app)
    assert listed(app, appId=owner.app_id) == [("deviceAdded", CALLBACK)]
    assert listed(app) == [("bindDevice", CALLBACK)]
    assert listed(owner, appId=owner.app_id) == [("deviceAdded", CALLBACK)]


# ---------------------------------------------------------------------------------------------------- §1.6.5


def test_delete_one(make_app: Callable[..., App], app: App) -> None:
    kept = subscribe(app, "bindDevice")
    doomed = subscribe(app, "deviceAdded")
    r = app.http.delete(f"{SUBS}/{doomed['subscriptionId']}")
    assert r.status_code == 204 and r.content == b""
    assert_error(app.http.get(f"{SUBS}/{doomed['subscriptionId']}"), 404, "100225")
    assert_error(app.http.delete(f"{SUBS}/{doomed['subscriptionId']}"), 404, "100225")
    assert_error(app.http.delete(f"{SUBS}/no-such-subscription"), 404, "100225")
    assert [s["subscriptionId"] for s in listing(app)["subscriptions"]] == [kept["subscriptionId"]]
    # Another app's subscription is unknown to the caller, and stays.
    other = make_app()
    foreign = subscribe(other, "deviceAdded")
    assert_error(app.http.delete(f"{SUBS}/{foreign['subscriptionId']}"), 404, "100225")
    assert other.http.get(f"{SUBS}/{foreign['subscriptionId']}").status_code == 200


def test_delete_one_of_an_authorized_app(node: PlatformThread, make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    sub = subscribe(owner, "deviceAdded")
    path = f"{SUBS}/{sub['subscriptionId']}"
    assert_error(app.http.delete(path, params={"appId": owner.app_id}), 403, "100217")
    assert_error(app.http.delete(path, params={"appId": "no-such-app"}), 403, "100203")
    authorize(node, owner, app)
    assert_error(app.http.delete(path), 404, "100225")  # not the caller's own
    assert app.http.delete(path, params={"appId": owner.app_id}).status_code == 204
    assert listing(owner)["totalCount"] == 0


# ---------------------------------------------------------------------------------------------------- §1.6.6


def _populate(app: App) -> None:
    subscribe(app, "deviceAdded")
    subscribe(app, "deviceAdded", channel="MQTT")
    subscribe(app, "bindDevice", "https://other.example/cb")
    subscribe(app, "bindDevice", "https://other.example/cb", channel="MQTT")
    subscribe_management(app, "swUpgradeResultNotify")


def test_delete_all_without_channel_deletes_the_http_ones(make_app: Callable[..., App], app: App) -> None:
    _populate(app)
    other = make_app()
    subscribe(other, "deviceAdded")
    r = app.http.delete(SUBS)
    assert r.status_code == 204 and r.content == b""
    # Absent channel = HTTP only (L2761): the MQTT ones stay, management ones (HTTP) go.
    assert sorted(listed(app)) == [("bindDevice", "https://other.example/cb"), ("deviceAdded", CALLBACK)]
    assert app.http.delete(SUBS, params={"channel": "MQTT"}).status_code == 204
    assert listing(app)["totalCount"] == 0
    assert_error(app.http.delete(SUBS), 404, "100225")  # nothing left to match
    assert listed(other) == [("deviceAdded", CALLBACK)]  # other apps' subscriptions are untouched


@pytest.mark.parametrize(("channel", "left"), [("HTTP", 2), ("http", 2), ("MQTT", 3), ("Mqtt", 3)])
def test_delete_by_channel(app: App, channel: str, left: int) -> None:
    _populate(app)
    assert app.http.delete(SUBS, params={"channel": channel}).status_code == 204
    assert listing(app)["totalCount"] == left


@pytest.mark.parametrize("channel", ["SMS", "HTTPS", "all"])
def test_delete_with_another_channel_deletes_nothing(app: App, channel: str) -> None:
    _populate(app)
    assert_error(app.http.delete(SUBS, params={"channel": channel}), 404, "100225")
    assert listing(app)["totalCount"] == 5


def test_delete_by_notify_type_and_callback_url(app: App) -> None:
    _populate(app)
    assert app.http.delete(SUBS, params={"notifyType": "bindDevice"}).status_code == 204
    assert listing(app, notifyType="bindDevice")["totalCount"] == 1  # the MQTT one
    assert_error(app.http.delete(SUBS, params={"notifyType": "bindDevice"}), 404, "100225")
    assert (
        app.http.delete(SUBS, params={"callbackUrl": "https://other.example/cb", "channel": "MQTT"}).status_code == 204
    )
    assert listing(app, notifyType="bindDevice")["totalCount"] == 0
    assert_error(app.http.delete(SUBS, params={"callbackUrl": "https://nowhere.example/cb"}), 404, "100225")
    r = app.http.delete(SUBS, params={"notifyType": "deviceAdded", "callbackUrl": CALLBACK, "channel": "MQTT"})
    assert r.status_code == 204
    assert sorted(listed(app)) == [("deviceAdded", CALLBACK), ("swUpgradeResultNotify", CALLBACK)]
    assert app.http.delete(SUBS, params={"notifyType": "swUpgradeResultNotify"}).status_code == 204
    assert listed(app) == [("deviceAdded", CALLBACK)]
    assert_error(app.http.delete(SUBS, params={"notifyType": "nope"}), 400, "100228")


def test_delete_many_of_an_authorized_app(node: PlatformThread, make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    subscribe(owner, "deviceAdded")
    subscribe(app, "deviceAdded")
    assert_error(app.http.delete(SUBS, params={"appId": owner.app_id}), 403, "100217")
    assert_error(app.http.delete(SUBS, params={"appId": "no-such-app"}), 403, "100203")
    authorize(node, owner, app)
    assert app.http.delete(SUBS, params={"appId": owner.app_id}).status_code == 204
    assert listing(owner)["totalCount"] == 0
    assert listing(app)["totalCount"] == 1


# ---------------------------------------------------------------------------------------------------- access


def _six_calls(client: httpx.Client) -> list[httpx.Response]:
    body = {"notifyType": "deviceAdded", "callbackUrl": CALLBACK}
    return [
        client.post(SUBS, json=body),
        client.post(MGMT, json={"notifyType": "swUpgradeResultNotify", "callbackUrl": CALLBACK}),
        client.get(f"{SUBS}/x"),
        client.get(SUBS),
        client.delete(f"{SUBS}/x"),
        client.delete(SUBS),
    ]


def test_every_api_needs_credentials(app: App) -> None:
    with app.node.client() as bare:
        for r in _six_calls(bare):
            assert_error(r, 401, "100025")
        bare.headers.update({"app_key": app.app_id, "Authorization": "Bearer junk"})
        for r in _six_calls(bare):
            assert_error(r, 403, "1010005")
    assert listing(app)["totalCount"] == 0


def test_every_api_is_flow_controlled(make_app: Callable[..., App]) -> None:
    limited = make_app(rate_limit=6)
    statuses = [r.status_code for r in _six_calls(limited.http)]
    assert statuses == [201, 200, 404, 200, 404, 204]
    for r in _six_calls(limited.http):
        assert_error(r, 403, "1010009")
