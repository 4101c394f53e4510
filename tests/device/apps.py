"""Application-side helpers for tests of the MQTT channel (DECISIONS S5): a paho client logged in as an app, and
MQTT subscriptions."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt

from tests.harness import App, PlatformThread

SUBSCRIPTIONS = "/iocm/app/sub/v1.2.0/subscriptions"


def app_topic(app_id: str) -> str:
    return f"/huawei/v1/apps/{app_id}/notifications"


@contextmanager
def app_client(node: PlatformThread, app: App, client_id: str) -> Iterator[queue.Queue[dict[str, Any]]]:
    """A paho client logged in as ``app``, listening on its notifications topic; yields what it receives."""
    assert node.platform is not None
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    subscribed = queue.Queue[int]()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(app.app_id, app.token)
    client.on_message = lambda _c, _u, message: received.put(json.loads(message.payload))
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: subscribed.put(codes[0].value)
    client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(app_topic(app.app_id), qos=1)
    client.connect("127.0.0.1", node.platform.mqtt_port)
    client.loop_start()
    try:
        assert subscribed.get(timeout=10) == 1
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def subscribe(app: App, notify_type: str, params: dict[str, str] | None = None, **body: str) -> dict[str, Any]:
    r = app.http.post(
        SUBSCRIPTIONS,
        params=params,
        json={"notifyType": notify_type, "callbackUrl": "http://127.0.0.1:9/x", "channel": "MQTT", **body},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
