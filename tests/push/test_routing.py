"""Who is pushed what: only the notifyTypes subscribed to, only the events of the subscription's app (G5, note 2
D19), matched when the event is dispatched."""

from __future__ import annotations

from collections.abc import Callable

from tests.harness import App, PlatformThread, unique_node_id
from tests.receiver import SUBSCRIPTIONS, Inbox

DEVICES = "/iocm/app/dm/v1.4.0/devices"
DEVICE_TYPES = ("deviceAdded", "deviceInfoChanged", "deviceDeleted", "bindDevice")


def register_modify_delete(app: App, **params: str) -> str:
    r = app.http.post(
        "/iocm/app/reg/v1.1.0/deviceCredentials",
        params=params,
        json={"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}},
    )
    assert r.status_code == 200, r.text
    device_id: str = r.json()["deviceId"]
    assert app.http.put(f"{DEVICES}/{device_id}", params=params, json={"name": "N"}).status_code == 204
    assert app.http.delete(f"{DEVICES}/{device_id}", params=params).status_code == 204
    return device_id


def test_only_the_subscribed_types_arrive(app: App) -> None:
    inbox = Inbox(app, "deviceInfoChanged")
    device_id = register_modify_delete(app)
    assert [(p["notifyType"], p["deviceId"]) for p in inbox.settled()] == [("deviceInfoChanged", device_id)]


def test_an_app_never_receives_another_apps_events(make_app: Callable[..., App]) -> None:
    first, second = make_app(), make_app()
    first_inbox, second_inbox = Inbox(first, *DEVICE_TYPES), Inbox(second, *DEVICE_TYPES)
    mine = register_modify_delete(first)
    theirs = register_modify_delete(second)
    assert {p["deviceId"] for p in first_inbox.settled()} == {mine}
    assert {p["deviceId"] for p in second_inbox.settled()} == {theirs}
    assert len(first_inbox.pushes()) == len(second_inbox.pushes()) == 3


def test_an_authorized_app_subscribes_to_the_owners_events(node: PlatformThread, make_app: Callable[..., App]) -> None:
    """The body's appId names the app whose events are pushed (§1.6.1 L2382, G5); to the caller's callback."""
    owner, agent = make_app(), make_app()
    with node.admin() as admin:
        assert admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": agent.app_id}).status_code == 204
    for_owner = Inbox(agent, "deviceAdded", appId=owner.app_id)
    own = Inbox(agent, "deviceAdded")
    on_behalf = register_modify_delete(agent, appId=owner.app_id)
    by_owner = register_modify_delete(owner)
    assert sorted(p["deviceId"] for p in for_owner.settled()) == sorted([on_behalf, by_owner])
    assert own.settled() == []


def test_a_deleted_subscription_is_pushed_nothing_more(app: App) -> None:
    inbox = Inbox(app, "deviceAdded")
    app.register()
    assert len(inbox.wait(1)) == 1
    [subscription_id] = inbox.subscription_ids
    assert app.http.delete(f"{SUBSCRIPTIONS}/{subscription_id}").status_code == 204
    app.register()
    assert len(inbox.settled()) == 1
