"""Pushes over MQTT (DECISIONS S5): an application subscribed with ``channel: MQTT`` connects to the MQTT
listener with its appId and accessToken and receives the pushes on its notifications topic."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa

from iotdm.southbound.mqtt import codec
from iotdm.store.schema import app_clients, pushes
from tests.device.apps import app_client, app_topic, subscribe
from tests.device.devices import RawClient
from tests.harness import App, PlatformThread, unique_node_id, wait_until


def test_pushes_arrive_over_mqtt_and_client_ids_are_listed(node: PlatformThread, app: App) -> None:
    assert subscribe(app, "deviceDeleted")["clientIds"] == []
    client_id = f"na-{uuid.uuid4().hex[:8]}"
    with app_client(node, app, client_id) as received:
        assert subscribe(app, "deviceAdded")["clientIds"] == [client_id]
        node_id = unique_node_id()
        device_id = app.register(node_id)["deviceId"]
        pushed = received.get(timeout=10)
        assert pushed["notifyType"] == "deviceAdded"
        assert pushed["deviceId"] == device_id
        assert pushed["gatewayId"] == device_id
        assert pushed["deviceInfo"]["nodeId"] == node_id
        assert app.http.delete(f"/iocm/app/dm/v1.4.0/devices/{device_id}").status_code == 204
        assert received.get(timeout=10) == {
            "notifyType": "deviceDeleted",
            "deviceId": device_id,
            "gatewayId": device_id,
        }


def test_a_push_waits_for_the_app_to_connect(node: PlatformThread, app: App) -> None:
    """At least once: with no client connected the push is retried, and arrives once the app connects."""
    subscription_id = subscribe(app, "deviceAdded")["subscriptionId"]
    device_id = app.register()["deviceId"]

    def failed_attempts() -> int:
        found = node.read(
            lambda conn: conn.execute(
                sa.select(sa.func.max(pushes.c.attempts)).where(pushes.c.subscription_id == subscription_id)
            ).scalar()
        )
        return int(found or 0)

    assert wait_until(lambda: failed_attempts() >= 1, 10)
    with app_client(node, app, f"late-{uuid.uuid4().hex[:8]}") as received:
        pushed = received.get(timeout=20)
    assert (pushed["notifyType"], pushed["deviceId"]) == ("deviceAdded", device_id)


def test_app_credentials_and_topic_acl(node: PlatformThread, app: App, make_app: Any) -> None:
    other = make_app()
    raw = RawClient(node)
    try:
        assert raw.connect("na-raw", app.app_id, "not-the-token") == 4  # bad username or password
    finally:
        raw.close()
    raw = RawClient(node)
    try:
        assert raw.connect("na-raw", f"no-such-app-{uuid.uuid4().hex}", app.token) == 2  # neither device nor app
    finally:
        raw.close()
    raw = RawClient(node)
    try:
        assert raw.connect("na-raw", app.app_id, app.token) == 0
        raw.send(codec.Subscribe(1, ((app_topic(other.app_id), 1), (app_topic(app.app_id), 1))))
        answer = raw.receive()
        assert isinstance(answer, codec.SubAck)
        assert answer.return_codes == (0x80, 1)
    finally:
        raw.close()


def test_client_ids_are_those_of_the_receiving_app(node: PlatformThread, app: App, make_app: Any) -> None:
    """On behalf of an authorizing app, ownerFlag says whose callback, and so whose MQTT clients, it is (D7)."""
    owner = make_app()
    with node.admin() as admin:
        r = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": app.app_id})
        assert r.status_code == 204, r.text
    with ExitStack() as clients:
        for client_id in ("partner-2", "partner-1"):
            clients.enter_context(app_client(node, app, f"{client_id}-{app.app_id}"))
        clients.enter_context(app_client(node, owner, f"owner-1-{owner.app_id}"))
        partners = [f"partner-1-{app.app_id}", f"partner-2-{app.app_id}"]
        assert subscribe(app, "deviceAdded")["clientIds"] == partners
        assert subscribe(app, "deviceAdded", channel="HTTP")["clientIds"] is None
        on_behalf = {"appId": owner.app_id}
        owners = [f"owner-1-{owner.app_id}"]
        assert subscribe(app, "bindDevice", params={"ownerFlag": "false"}, **on_behalf)["clientIds"] == owners
        assert subscribe(app, "deviceDeleted", **on_behalf)["clientIds"] == owners  # absent = false
        assert subscribe(app, "deviceInfoChanged", params={"ownerFlag": "true"}, **on_behalf)["clientIds"] == partners


def test_a_client_id_is_listed_while_connected_and_a_newer_session_replaces_the_older(
    node: PlatformThread, app: App
) -> None:
    client_id = f"na-{uuid.uuid4().hex[:8]}"
    older, newer = RawClient(node), RawClient(node)
    try:
        assert older.connect(client_id, app.app_id, app.token) == 0
        assert newer.connect(client_id, app.app_id, app.token) == 0
        assert older.closed_by_server()
        assert subscribe(app, "deviceAdded")["clientIds"] == [client_id]
    finally:
        older.close()
        newer.close()

    def recorded() -> list[str]:
        query = sa.select(app_clients.c.client_id).where(app_clients.c.app_id == app.app_id)
        return list(node.read(lambda conn: conn.execute(query).scalars().all()))

    assert wait_until(lambda: recorded() == [])  # the sessions' ends are recorded in the background
    assert subscribe(app, "deviceDeleted")["clientIds"] == []


def test_an_overlong_client_id_is_refused(node: PlatformThread, app: App) -> None:
    """The clientId is a key of the store: at most 256 characters (CONNACK 2, identifier rejected)."""
    raw = RawClient(node)
    try:
        assert raw.connect("n" * 257, app.app_id, app.token) == 2
    finally:
        raw.close()
    raw = RawClient(node)
    try:
        assert raw.connect("n" * 256, app.app_id, app.token) == 0
    finally:
        raw.close()
