"""Pushes are durable (DECISIONS S3: at least once): what was not delivered when the node stopped is delivered
after it starts again, and a delivery cut short by the stop is made again at once, not after its lease."""

from __future__ import annotations

from collections.abc import Callable

from tests.harness import App, PlatformThread
from tests.receiver import Answer, Inbox, Receiver

DEVICES = "/iocm/app/dm/v1.4.0/devices"


def test_undelivered_pushes_survive_a_restart_in_order(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], receiver: Receiver
) -> None:
    node = start_node()
    app = app_on(node)
    inbox = Inbox(app, "deviceInfoChanged", receiver=receiver)
    receiver.answer(inbox.path, Answer.FAIL)
    device_id = app.register()["deviceId"]
    for n in range(5):
        assert app.http.put(f"{DEVICES}/{device_id}", json={"name": f"n{n}"}).status_code == 204
    receiver.wait_for(inbox.path, 1)
    node.stop()
    receiver.answer(inbox.path, Answer.OK)  # before the start: an attempt failing after it would back off further
    node.start()
    names = [p["deviceInfo"]["name"] for p in inbox.wait(5)]
    assert names == [f"n{n}" for n in range(5)]


def test_a_delivery_cut_short_by_a_stop_is_made_again_after_the_start(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], receiver: Receiver
) -> None:
    node = start_node(push_timeout=30)
    app = app_on(node)
    inbox = Inbox(app, "deviceAdded", receiver=receiver)
    receiver.answer(inbox.path, Answer.STALL)
    device_id = app.register()["deviceId"]
    receiver.wait_for(inbox.path, 1)  # the push is under way and the callback does not answer
    node.stop()
    # Before the start: a push sent again while the callback still stalls would wait out its 30 s timeout.
    receiver.answer(inbox.path, Answer.OK)
    node.start()
    # Well before its lease (timeout + 30 s = 60 s) would lapse: the stop gave it back.
    [push] = inbox.wait(1, seconds=15)
    assert push["deviceId"] == device_id
