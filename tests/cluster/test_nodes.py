"""Nodes of one platform (ARCHITECTURE "Scaling out"): each device's session is known wherever it lives, nodes
reach each other's sessions, and the sessions of a node that is gone end with it."""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotdm.southbound.mqtt import codec
from iotdm.store.schema import nodes
from tests import harness
from tests.device.apps import app_client, subscribe
from tests.device.devices import RawClient, credentials, desired_message, listening, mqtt_device
from tests.harness import App, PlatformThread, wait_until
from tests.processes import Server, create_app

DEVICES = "/iocm/app/dm/v1.4.0/devices"
SHADOW = "/iocm/app/shadow/v1.5.0/devices"

postgres_only = pytest.mark.skipif(not harness.TEST_DATABASE_URL, reason="nodes share a database on PostgreSQL only")


def two_nodes(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], **first: Any
) -> tuple[PlatformThread, PlatformThread, App]:
    """Two nodes of a cluster of the test's own (``first``: settings of the first one) and an app."""
    started = start_node(**first)
    return started, start_node(join=started), app_on(started)


def status(app: App, device_id: str) -> str:
    r = app.http.get(f"{DEVICES}/{device_id}")
    assert r.status_code == 200, r.text
    found: str = r.json()["deviceInfo"]["status"]
    return found


def test_the_devices_of_a_node_that_crashed_go_offline(tmp_path: Path, own_database_url: str | None) -> None:
    """A node killed outright leaves its devices ONLINE in the store; once it has not been heard of for
    IOTDM_NODE_TIMEOUT, the next node that looks ends their sessions: OFFLINE."""
    data_dir = tmp_path / "data"
    crashing = Server(data_dir, "--no-tls", database_url=own_database_url, IOTDM_NODE_TIMEOUT="1")
    try:
        app = create_app(data_dir, "crash", own_database_url)
        with crashing.api(app) as api:
            registered = api.post(
                "/iocm/app/reg/v2.0.0/deviceCredentials",
                json={"deviceInfo": {"nodeId": uuid.uuid4().hex, "model": "M"}},
            ).json()
            device_id, secret = registered["deviceId"], registered["secret"]
            port = int(crashing.mqtt_url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as device:
                client_id, username, password = credentials(device_id, secret)
                device.sendall(
                    codec.encode(codec.Connect(client_id, 60, username=username, password=password.encode()))
                )
                assert device.recv(4) == codec.encode(codec.ConnAck(return_code=0))
                assert wait_until(lambda: _status(api, device_id) == "ONLINE")
                crashing.stop(signal.SIGKILL)
    finally:
        crashing.stop()
    survivor = Server(data_dir, "--no-tls", database_url=own_database_url, IOTDM_NODE_TIMEOUT="1")
    try:
        with survivor.api(app) as api:
            assert wait_until(lambda: _status(api, device_id) == "OFFLINE", 10)
    finally:
        survivor.stop()


def test_a_node_taken_for_gone_ends_its_sessions(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    """When the other nodes took this one for gone (they ended its sessions in the store), its live sessions end
    too, and the devices come back as they reconnect."""
    node = start_node(node_timeout=1)
    app = app_on(node)
    device_id, _, secret = mqtt_device(app)
    client = listening(node, device_id, secret)
    try:
        node.write(lambda conn: conn.execute(nodes.delete()))
        assert client.closed_by_server()
    finally:
        client.close()
    client = listening(node, device_id, secret)
    try:
        assert wait_until(lambda: status(app, device_id) == "ONLINE")
    finally:
        client.close()


@postgres_only
def test_a_device_connecting_to_another_node_ends_its_older_session(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    first, second, app = two_nodes(start_node, app_on)
    device_id, _, secret = mqtt_device(app)
    older = listening(first, device_id, secret)
    try:
        assert wait_until(lambda: status(app, device_id) == "ONLINE")
        newer = listening(second, device_id, secret)
        try:
            assert older.closed_by_server()
            time.sleep(0.5)  # the older session's end is recorded meanwhile, and must not take the device OFFLINE
            assert status(app, device_id) == "ONLINE"
        finally:
            newer.close()
        assert wait_until(lambda: status(app, device_id) == "OFFLINE")
    finally:
        older.close()


@postgres_only
def test_a_shadow_change_made_on_one_node_reaches_the_device_on_another_at_once(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    _, second, app = two_nodes(start_node, app_on)
    device_id, _, secret = mqtt_device(app)
    device = listening(second, device_id, secret)
    try:
        body = {"serviceDesireds": [{"serviceId": "Light", "desired": {"on": True}}]}
        assert app.http.put(f"{SHADOW}/{device_id}", json=body).status_code == 200
        message = desired_message(device)
        assert (message["cmd"], message["serviceId"], message["paras"]) == ("SET_DESIRED", "Light", {"on": True})
    finally:
        device.close()


@postgres_only
def test_mqtt_pushes_go_through_the_node_the_app_is_connected_to(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    """The node without the app's client never takes its pushes: with no retries allowed there (retry period 0),
    any push it tried would be a dead letter at once."""
    first, second, app = two_nodes(start_node, app_on, push_retry_period=0)
    client_id = f"na-{uuid.uuid4().hex[:8]}"
    with app_client(second, app, client_id) as received:
        assert subscribe(app, "deviceAdded")["clientIds"] == [client_id]  # asked of the first node
        registered = [app.register()["deviceId"] for _ in range(10)]
        pushed = [received.get(timeout=10)["deviceId"] for _ in registered]
    assert sorted(pushed) == sorted(registered)
    with first.admin() as admin:
        assert admin.get("/admin/dead-letters").json()["totalCount"] == 0


@postgres_only
def test_an_app_client_connecting_to_another_node_ends_its_older_session(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    first, second, app = two_nodes(start_node, app_on)
    older, newer = RawClient(first), RawClient(second)
    try:
        assert older.connect("na-twice", app.app_id, app.token) == 0
        assert newer.connect("na-twice", app.app_id, app.token) == 0
        assert older.closed_by_server()
        assert subscribe(app, "deviceAdded")["clientIds"] == ["na-twice"]
    finally:
        older.close()
        newer.close()


def _status(api: httpx.Client, device_id: str) -> str:
    found: str = api.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]["status"]
    return found
