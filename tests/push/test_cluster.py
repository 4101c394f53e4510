"""Two nodes on one PostgreSQL database (the scale-out deployment): both dispatch, yet each device's pushes arrive
once and in order, whichever node took the change and whichever delivers it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pytest

from tests import harness
from tests.harness import App, PlatformThread
from tests.receiver import Inbox

DEVICES = "/iocm/app/dm/v1.4.0/devices"

pytestmark = pytest.mark.skipif(not harness.TEST_DATABASE_URL, reason="nodes share a database on PostgreSQL only")


def test_two_nodes_deliver_each_devices_pushes_once_and_in_order(
    start_node: Callable[..., PlatformThread], app_on: Callable[[PlatformThread], App]
) -> None:
    first = start_node()
    second = start_node(join=first)
    app = app_on(first)
    inbox = Inbox(app, "deviceInfoChanged")
    devices = [app.register()["deviceId"] for _ in range(6)]
    with second.client() as other:
        other.headers.update(app.http.headers)
        for n in range(20):
            for device_id in devices:
                client = app.http if n % 2 else other
                assert client.put(f"{DEVICES}/{device_id}", json={"name": f"n{n}"}).status_code == 204
    names: dict[str, list[str]] = defaultdict(list)
    for push in inbox.wait(6 * 20):
        names[push["deviceId"]].append(push["deviceInfo"]["name"])
    assert dict(names) == {d: [f"n{n}" for n in range(20)] for d in devices}
    assert len(inbox.settled()) == 6 * 20  # none twice
