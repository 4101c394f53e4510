"""Shadow desired values reach the device (at once, or when it next listens) and its answer settles them (D4)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from iotdm.southbound.mqtt import codec
from iotdm.store.schema import desired_history
from tests.device.devices import RawClient, data_topic, desired_message, listening, mqtt_device
from tests.harness import App, PlatformThread, wait_until
from tests.receiver import Inbox

SHADOW = "/iocm/app/shadow/v1.5.0/devices"


def answer(client: RawClient, device_id: str, mid: int, errcode: int) -> None:
    body = json.dumps({"msgType": "deviceRsp", "mid": mid, "errcode": errcode, "body": {}}).encode()
    client.send(codec.Publish(data_topic(device_id), body, qos=1, packet_id=77))
    assert client.receive() == codec.PubAck(77)


def statuses(node: PlatformThread, device_id: str) -> list[str]:
    def read(conn: sa.Connection) -> list[str]:
        query = sa.select(desired_history.c.status).where(desired_history.c.device_id == device_id)
        return list(conn.execute(query.order_by(desired_history.c.id)).scalars())

    return node.read(read)


def subscribed(app: App) -> Inbox:
    return Inbox(app, "deviceDesiredPropertiesModifyStatusChanged")


def outcomes(inbox: Inbox, device_id: str) -> list[dict[str, Any]]:
    """The device's deviceDesiredPropertiesModifyStatusChanged pushes, once everything so far is delivered."""
    return [p for p in inbox.settled() if p["deviceId"] == device_id]


def test_online_device_gets_the_change_at_once(node: PlatformThread, app: App) -> None:
    inbox = subscribed(app)
    device_id, _, secret = mqtt_device(app)
    client = listening(node, device_id, secret)
    try:
        body = {"serviceDesireds": [{"serviceId": "Light", "desired": {"on": True}}]}
        assert app.http.put(f"{SHADOW}/{device_id}", json=body).status_code == 200
        message = desired_message(client)
        assert message["msgType"] == "cloudReq" and message["cmd"] == "SET_DESIRED"
        assert message["serviceId"] == "Light" and message["paras"] == {"on": True}
        assert 1 <= message["mid"] <= 65535
        answer(client, device_id, message["mid"], 0)
        assert statuses(node, device_id) == ["DELIVERED"]
        [outcome] = outcomes(inbox, device_id)
        assert outcome == {
            "notifyType": "deviceDesiredPropertiesModifyStatusChanged",
            "deviceId": device_id,
            "serviceId": "Light",
            "properties": {"on": True},
            "status": "DELIVERED",
        }
    finally:
        client.close()


def test_refusal_marks_the_change_failed(node: PlatformThread, app: App) -> None:
    inbox = subscribed(app)
    device_id, _, secret = mqtt_device(app)
    client = listening(node, device_id, secret)
    try:
        body = {"serviceDesireds": [{"serviceId": "Light", "desired": {"on": False}}]}
        assert app.http.put(f"{SHADOW}/{device_id}", json=body).status_code == 200
        answer(client, device_id, desired_message(client)["mid"], 3)
        assert statuses(node, device_id) == ["FAILED"]
        assert [o["status"] for o in outcomes(inbox, device_id)] == ["FAILED"]
        answer(client, device_id, 999, 0)  # an answer nothing waits for changes nothing
        assert len(outcomes(inbox, device_id)) == 1
    finally:
        client.close()


def test_offline_device_gets_pending_changes_when_it_next_listens(node: PlatformThread, app: App) -> None:
    device_id, _, secret = mqtt_device(app)
    changes = [{"serviceId": "A", "desired": {"x": 1}}, {"serviceId": "B", "desired": {"y": 2}}]
    assert app.http.put(f"{SHADOW}/{device_id}", json={"serviceDesireds": changes}).status_code == 200
    assert statuses(node, device_id) == ["PENDING", "PENDING"]
    first = listening(node, device_id, secret)
    try:
        got = [desired_message(first), desired_message(first)]
        assert [(m["serviceId"], m["paras"]) for m in got] == [("A", {"x": 1}), ("B", {"y": 2})]
        answer(first, device_id, got[0]["mid"], 0)
    finally:
        first.close()
    # B was never answered: it stays pending and comes again on the next session.
    assert wait_until(lambda: statuses(node, device_id) == ["DELIVERED", "PENDING"])
    second = listening(node, device_id, secret)
    try:
        again = desired_message(second)
        assert (again["serviceId"], again["paras"]) == ("B", {"y": 2})
        answer(second, device_id, again["mid"], 0)
        assert statuses(node, device_id) == ["DELIVERED", "DELIVERED"]
    finally:
        second.close()
