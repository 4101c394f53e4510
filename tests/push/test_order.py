"""Order per (subscription, device) (DECISIONS S3): many events for several devices at once, delivered
concurrently, arrive in each device's own order -- also when the callback fails for a while in between."""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.device.devices import PahoDevice, mqtt_device
from tests.harness import App, PlatformThread
from tests.receiver import Answer, Inbox, shared

DEVICES = "/iocm/app/dm/v1.4.0/devices"


def names_by_device(pushes: list[dict[str, Any]]) -> dict[str, list[str]]:
    """deviceInfoChanged pushes: each device's names, in arrival order."""
    found: dict[str, list[str]] = defaultdict(list)
    for push in pushes:
        found[push["deviceId"]].append(push["deviceInfo"]["name"])
    return dict(found)


def rename(app: App, device_id: str, times: int) -> None:
    """Rename one device ``times`` times, one change after the other, on a connection of its own."""
    with app.node.client() as client:
        client.headers.update(app.http.headers)
        for n in range(times):
            assert client.put(f"{DEVICES}/{device_id}", json={"name": f"n{n}"}).status_code == 204


def test_each_devices_changes_arrive_in_order(app: App) -> None:
    inbox = Inbox(app, "deviceInfoChanged")
    devices = [app.register()["deviceId"] for _ in range(8)]
    with ThreadPoolExecutor(len(devices)) as pool:
        list(pool.map(lambda d: rename(app, d, 25), devices))
    names = names_by_device(inbox.wait(8 * 25))
    assert names == {d: [f"n{n}" for n in range(25)] for d in devices}


def test_each_devices_reports_arrive_in_order(node: PlatformThread, app: App) -> None:
    inbox = Inbox(app, "deviceDatasChanged")
    fleet = [mqtt_device(app) for _ in range(4)]
    devices = [PahoDevice(node, device_id, secret) for device_id, _, secret in fleet]

    def report(device: PahoDevice) -> None:
        for n in range(40):
            device.report([{"serviceId": "Counter", "serviceData": {"n": n}}])

    try:
        with ThreadPoolExecutor(len(devices)) as pool:
            list(pool.map(report, devices))
        pushes = inbox.wait(4 * 40)
    finally:
        for device in devices:
            device.close()
    counted: dict[str, list[int]] = defaultdict(list)
    for push in pushes:
        counted[push["deviceId"]].append(push["services"][0]["data"]["n"])
    assert counted == {device_id: list(range(40)) for device_id, _, _ in fleet}


def test_order_holds_across_failed_attempts(app: App) -> None:
    """While the callback answers 500, each device's first push is retried and the others wait behind it."""
    inbox = Inbox(app, "deviceInfoChanged")
    devices = [app.register()["deviceId"] for _ in range(3)]
    shared().answer(inbox.path, Answer.FAIL)
    for n in range(5):
        for device_id in devices:
            assert app.http.put(f"{DEVICES}/{device_id}", json={"name": f"n{n}"}).status_code == 204
    shared().wait_for(inbox.path, 3)  # each device's first push was tried and failed
    time.sleep(0.5)
    assert inbox.pushes() == []
    shared().answer(inbox.path, Answer.OK)
    names = names_by_device(inbox.wait(15))
    assert names == {d: [f"n{n}" for n in range(5)] for d in devices}
    tried = [r.body["deviceId"] for r in shared().requests(inbox.path) if r.status == 500]
    assert sorted(set(tried)) == sorted(devices)  # only heads were tried while failing
    assert all(r.body["deviceInfo"]["name"] == "n0" for r in shared().requests(inbox.path) if r.status == 500)
