"""Failed deliveries (DECISIONS S3): retried with backoff for the retry period, then kept as dead letters; a
key goes on after its dead letter. Nodes of their own, with a retry period of a second or two."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iotdm.tls import ensure_self_signed
from tests.harness import App, PlatformThread
from tests.receiver import Answer, Inbox, Receiver

DEVICES = "/iocm/app/dm/v1.4.0/devices"
DEAD_LETTERS = "/admin/dead-letters"


def dead_letters(node: PlatformThread, app: App, count: int, seconds: float = 15.0) -> list[dict[str, Any]]:
    """Wait for ``count`` dead letters of the app; answer them in the order they were queued, with payloads."""
    deadline = time.monotonic() + seconds
    with node.admin() as admin:
        while True:
            r = admin.get(DEAD_LETTERS, params={"appId": app.app_id})
            assert r.status_code == 200, r.text
            listed = r.json()["deadLetters"]
            if len(listed) >= count:
                break
            assert time.monotonic() < deadline, f"{len(listed)} of {count} dead letters after {seconds} s"
            time.sleep(0.1)
        return [admin.get(f"{DEAD_LETTERS}/{letter['id']}").json() for letter in sorted(listed, key=lambda x: x["id"])]


def rename(app: App, device_id: str, name: str) -> None:
    assert app.http.put(f"{DEVICES}/{device_id}", json={"name": name}).status_code == 204


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_callback_answering_500_is_retried_with_backoff_then_dead_lettered(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], receiver: Receiver
) -> None:
    node = start_node(push_retry_period=2)
    app = app_on(node)
    inbox = Inbox(app, "deviceInfoChanged", receiver=receiver)
    receiver.answer(inbox.path, Answer.FAIL)
    device_id = app.register()["deviceId"]
    rename(app, device_id, "A")
    [letter] = dead_letters(node, app, 1)
    tries = receiver.requests(inbox.path)
    assert len(tries) >= 2 and all(t.raw == tries[0].raw for t in tries)
    assert tries[1].at - tries[0].at >= 0.9  # the first backoff is a second
    assert tries[-1].at - tries[0].at < 4  # given up at the end of the retry period (2 s)
    assert letter["attempts"] == len(tries)
    assert letter["lastError"] == "HTTP 500"
    assert letter["payload"] == tries[0].body
    assert letter["payload"]["deviceInfo"]["name"] == "A"
    expected = {"appId": app.app_id, "notifyType": "deviceInfoChanged", "deviceId": device_id}
    assert {k: letter[k] for k in expected} == expected
    assert (letter["callbackUrl"], letter["channel"], letter["subscriptionId"]) == (
        inbox.url,
        "HTTP",
        inbox.subscription_ids[0],
    )

    # The device's later pushes are not held up by the dead one.
    receiver.answer(inbox.path, Answer.OK)
    rename(app, device_id, "B")
    [delivered] = inbox.wait(1)
    assert delivered["deviceInfo"]["name"] == "B"

    # An operator replays the dead letter: it is delivered, and is a dead letter no more.
    with node.admin() as admin:
        assert admin.post(f"{DEAD_LETTERS}/{letter['id']}/replay").status_code == 204
        assert [pushed["deviceInfo"]["name"] for pushed in inbox.wait(2)] == ["B", "A"]
        assert admin.get(DEAD_LETTERS, params={"appId": app.app_id}).json()["deadLetters"] == []


def test_a_callback_not_listening_is_dead_lettered(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    node = start_node(push_retry_period=1)
    app = app_on(node)
    url = f"http://127.0.0.1:{closed_port()}/nobody"
    r = app.http.post("/iocm/app/sub/v1.2.0/subscriptions", json={"notifyType": "deviceAdded", "callbackUrl": url})
    assert r.status_code == 201, r.text
    device_id = app.register()["deviceId"]
    [letter] = dead_letters(node, app, 1)
    assert letter["attempts"] >= 2
    assert letter["lastError"].startswith("connection failed")
    assert (letter["deviceId"], letter["payload"]["deviceId"], letter["callbackUrl"]) == (device_id, device_id, url)


def test_pushes_queued_behind_a_dead_one_past_their_period_follow_it_untried(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], receiver: Receiver
) -> None:
    """The first push stalls past the retry period; those queued behind it meanwhile grew as old: they become
    dead letters with it, in order, never tried."""
    node = start_node(push_retry_period=1, push_timeout=2)
    app = app_on(node)
    inbox = Inbox(app, "deviceInfoChanged", receiver=receiver)
    receiver.answer(inbox.path, Answer.STALL)
    device_id = app.register()["deviceId"]
    for name in ("n0", "n1", "n2"):
        rename(app, device_id, name)
    letters = dead_letters(node, app, 3)
    assert [letter["payload"]["deviceInfo"]["name"] for letter in letters] == ["n0", "n1", "n2"]
    assert [letter["attempts"] for letter in letters] == [1, 0, 0]
    assert {letter["lastError"] for letter in letters} == {"no answer within 2 s"}
    assert len(receiver.requests(inbox.path)) == 1


def test_an_mqtt_subscription_gets_no_http_delivery_and_loses_nothing(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], receiver: Receiver
) -> None:
    """channel MQTT (S5, note 2 D8): never POSTed to; without an MQTT delivery it is kept, retried, dead-lettered."""
    node = start_node(push_retry_period=1)
    app = app_on(node)
    inbox = Inbox(app, "deviceAdded", receiver=receiver, channel="MQTT")
    device_id = app.register()["deviceId"]
    [letter] = dead_letters(node, app, 1)
    assert (letter["channel"], letter["deviceId"], letter["attempts"] >= 2) == ("MQTT", device_id, True)
    assert receiver.requests(inbox.path) == []


def test_https_callbacks_need_a_valid_certificate_unless_told_otherwise(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], tmp_path: Path
) -> None:
    """DECISIONS S3: certificates are checked by default; IOTDM_PUSH_VERIFY_TLS=false accepts a self-signed one."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*ensure_self_signed(tmp_path / "receiver"))
    receiver = Receiver(tls)
    try:
        checking = start_node(push_retry_period=1)
        app = app_on(checking)
        Inbox(app, "deviceAdded", receiver=receiver)
        app.register()
        [letter] = dead_letters(checking, app, 1)
        assert "CERTIFICATE_VERIFY_FAILED" in letter["lastError"]
        assert receiver.requests() == []

        trusting = start_node(push_verify_tls=False)
        app = app_on(trusting)
        inbox = Inbox(app, "deviceAdded", receiver=receiver)
        device_id = app.register()["deviceId"]
        assert [p["deviceId"] for p in inbox.wait(1)] == [device_id]
        assert inbox.url.startswith("https://")
    finally:
        receiver.close()
