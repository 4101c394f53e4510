"""A stalled callback delays nobody else (DECISIONS S3): not another subscriber, whose pushes take the slots the
stalled one may not, and not the API calls whose changes it is told of."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.harness import App, PlatformThread
from tests.receiver import Answer, Inbox, Receiver

DEVICES = "/iocm/app/dm/v1.4.0/devices"


def test_a_stalled_callback_does_not_delay_another_subscriber(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App], receiver: Receiver
) -> None:
    node = start_node(push_timeout=30, push_concurrency=4, push_subscription_concurrency=2)
    stalled_app, other_app = app_on(node), app_on(node)
    stalled = Inbox(stalled_app, "deviceInfoChanged", receiver=receiver)
    other = Inbox(other_app, "deviceInfoChanged", receiver=receiver)
    receiver.answer(stalled.path, Answer.STALL)
    stuck_devices = [stalled_app.register()["deviceId"] for _ in range(6)]
    for device_id in stuck_devices:
        started = time.monotonic()
        assert stalled_app.http.put(f"{DEVICES}/{device_id}", json={"name": "x"}).status_code == 204
        assert time.monotonic() - started < 5  # the call never waits for its push (stalled for 30 s)
    receiver.wait_for(stalled.path, 2)

    device_id = other_app.register()["deviceId"]
    for n in range(10):
        assert other_app.http.put(f"{DEVICES}/{device_id}", json={"name": f"n{n}"}).status_code == 204
        [push] = other.wait(n + 1, seconds=5)[n:]  # well within the 30 s the stalled callback holds its pushes
        assert push["deviceInfo"]["name"] == f"n{n}"

    # The stalled subscription holds no more than its own share of the slots.
    assert len(receiver.requests(stalled.path)) == 2
