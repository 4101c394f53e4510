"""The push queue in the store (``store.pushes``): only a key's head is ever due, settling hands the key on to
its next push, and a lost lease changes nothing. These are the rules the dispatcher's order rests on."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from iotdm.store import app_clients, outbox
from iotdm.store import pushes as queue
from iotdm.store.engine import Database
from iotdm.store.schema import apps, dead_letters, pushes, subscriptions
from iotdm.store.schema import outbox as outbox_table

NOW = 1_700_000_000_000
LEASE = NOW + 60_000
NODE = "node-1"


def setup(conn: sa.Connection) -> None:
    """Apps A and B; A subscribes to deviceInfoChanged (sub-info) and deviceModelAdded (sub-model)."""
    for app_id in ("A", "B"):
        conn.execute(apps.insert().values(app_id=app_id, name=app_id, secret_hash="-", created_at=NOW))
    for subscription_id, notify_type in (("sub-info", "deviceInfoChanged"), ("sub-model", "deviceModelAdded")):
        conn.execute(
            subscriptions.insert().values(
                subscription_id=subscription_id,
                app_id="A",
                created_by="A",
                notify_type=notify_type,
                callback_url="http://127.0.0.1:1/cb",
                channel="HTTP",
                owner_flag=False,
                created_at=NOW,
            )
        )


def event(conn: sa.Connection, app_id: str, notify_type: str, device_id: str | None, n: int) -> None:
    payload: dict[str, Any] = {"notifyType": notify_type, "n": n}
    if device_id is not None:
        payload["deviceId"] = device_id
    outbox.append(conn, app_id, payload, NOW + n)


def rows(conn: sa.Connection) -> list[tuple[str, str, int, bool]]:
    """(subscription, device, n, due) of every push, in id order."""
    query = sa.select(pushes.c.subscription_id, pushes.c.device_id, pushes.c.payload, pushes.c.next_attempt_at)
    return [
        (r.subscription_id, r.device_id, r.payload["n"], r.next_attempt_at != queue.WAITING)
        for r in conn.execute(query.order_by(pushes.c.id))
    ]


def due(conn: sa.Connection, now: int = NOW) -> list[int]:
    return [row["id"] for row in queue.due(conn, NODE, now, 100, [])]


async def test_fan_out_makes_one_push_per_match_and_only_heads_are_due(database: Database) -> None:
    def scenario(conn: sa.Connection) -> list[tuple[str, str, int, bool]]:
        setup(conn)
        event(conn, "A", "deviceInfoChanged", "d1", 1)
        event(conn, "A", "deviceInfoChanged", "d2", 2)
        event(conn, "A", "deviceAdded", "d1", 3)  # nobody subscribed to it
        event(conn, "B", "deviceInfoChanged", "d3", 4)  # another app's
        event(conn, "A", "deviceInfoChanged", "d1", 5)
        event(conn, "A", "deviceModelAdded", None, 6)  # of no device
        assert queue.fan_out(conn, NOW, limit=4) == 4
        assert queue.fan_out(conn, NOW, limit=4) == 2
        assert queue.fan_out(conn, NOW, limit=4) == 0
        return rows(conn)

    assert await database.write(scenario) == [
        ("sub-info", "d1", 1, True),
        ("sub-info", "d2", 2, True),
        ("sub-info", "d1", 5, False),  # behind d1's head
        ("sub-model", "", 6, True),
    ]
    left = sa.select(sa.func.count()).select_from(outbox_table)
    assert await database.read(lambda conn: conn.execute(left).scalar_one()) == 0


async def test_settling_a_head_hands_the_key_on_and_a_lost_lease_changes_nothing(database: Database) -> None:
    def scenario(conn: sa.Connection) -> None:
        setup(conn)
        for n in (1, 2, 3):
            event(conn, "A", "deviceInfoChanged", "d1", n)
        queue.fan_out(conn, NOW, limit=100)
        [head] = queue.due(conn, NODE, NOW, 100, [])
        assert head["body"] == '{"notifyType":"deviceInfoChanged","n":1,"deviceId":"d1"}'
        queue.lease(conn, [head["id"]], LEASE)
        assert due(conn) == []  # leased
        assert due(conn, LEASE + 1) == [head["id"]]  # the lease lapsed: due again

        assert queue.settle_delivered(conn, [(head["id"], LEASE - 1)], NOW, LEASE) == (set(), [])  # not our lease
        gone, [following] = queue.settle_delivered(conn, [(head["id"], LEASE)], NOW, LEASE)
        assert gone == {head["id"]}
        assert following["body"].endswith('"n":2,"deviceId":"d1"}')
        assert due(conn) == []  # leased to the settling worker
        assert [r[2:] for r in rows(conn)] == [(2, True), (3, False)]

        queue.retry_later(conn, following["id"], LEASE, attempts=1, at=NOW + 1_000, error="HTTP 500")
        assert due(conn) == [] and due(conn, NOW + 1_000) == [following["id"]]

    await database.write(scenario)


async def test_a_requeued_push_waits_behind_the_keys_head(database: Database) -> None:
    def scenario(conn: sa.Connection) -> list[tuple[str, str, int, bool]]:
        setup(conn)
        event(conn, "A", "deviceInfoChanged", "d1", 1)
        queue.fan_out(conn, NOW, limit=100)
        again = {"subscription_id": "sub-info", "payload": {"n": 0}, "created_at": NOW}
        queue.enqueue(conn, [{**again, "device_id": "d1"}, {**again, "device_id": "d2"}], NOW)
        return rows(conn)

    assert await database.write(scenario) == [
        ("sub-info", "d1", 1, True),
        ("sub-info", "d1", 0, False),
        ("sub-info", "d2", 0, True),
    ]


async def test_burying_a_head_takes_the_expired_pushes_behind_it(database: Database) -> None:
    def scenario(conn: sa.Connection) -> list[tuple[int, int, str | None]]:
        setup(conn)
        for n in (1, 2, 3):
            event(conn, "A", "deviceInfoChanged", "d1", n)  # created at NOW + n
        queue.fan_out(conn, NOW, limit=100)
        [head] = queue.due(conn, NODE, NOW, 100, [])
        queue.lease(conn, [head["id"]], LEASE)
        common = {"subscription_id": "sub-info", "device_id": "d1", "error": "HTTP 500", "now": NOW + 10}
        assert queue.bury(conn, head["id"], LEASE, attempts=9, cutoff=NOW + 3, **common)
        following = queue.promote_next(conn, "sub-info", "d1", NOW + 10, lease_until=None)
        assert following is None  # promoted, not leased
        assert [r[2:] for r in rows(conn)] == [(3, True)]  # created at the cutoff: not expired
        letters = sa.select(dead_letters.c.payload, dead_letters.c.attempts, dead_letters.c.last_error)
        return [(r.payload["n"], r.attempts, r.last_error) for r in conn.execute(letters.order_by(dead_letters.c.id))]

    assert await database.write(scenario) == [(1, 9, "HTTP 500"), (2, 0, "HTTP 500")]


async def test_mqtt_pushes_are_due_only_where_the_receiving_app_is_connected(database: Database) -> None:
    """On the node holding a client of the receiving app, or on any node while the app has none; with
    ``ownerFlag`` the receiving app is the one that subscribed (D7)."""

    def scenario(conn: sa.Connection) -> dict[str, list[str]]:
        setup(conn)
        conn.execute(
            subscriptions.insert().values(
                subscription_id="sub-mqtt",
                app_id="A",
                created_by="B",
                notify_type="deviceDeleted",
                callback_url="",
                channel="MQTT",
                owner_flag=True,
                created_at=NOW,
            )
        )
        event(conn, "A", "deviceDeleted", "d1", 1)
        event(conn, "A", "deviceInfoChanged", "d1", 2)  # HTTP: due anywhere
        queue.fan_out(conn, NOW, limit=100)

        def due_on(node: str) -> list[str]:
            return sorted(row["subscription_id"] for row in queue.due(conn, node, NOW, 100, []))

        seen = {"nowhere": due_on("node-2")}
        app_clients.claim(conn, "A", "na-1", "node-1", "s1")  # the subscribing app, not the receiving one
        seen["A connected"] = due_on("node-2")
        app_clients.claim(conn, "B", "na-1", "node-1", "s2")
        seen["B on node-1, asked by node-2"] = due_on("node-2")
        seen["B on node-1, asked by node-1"] = due_on("node-1")
        return seen

    assert await database.write(scenario) == {
        "nowhere": ["sub-info", "sub-mqtt"],
        "A connected": ["sub-info", "sub-mqtt"],
        "B on node-1, asked by node-2": ["sub-info"],
        "B on node-1, asked by node-1": ["sub-info", "sub-mqtt"],
    }
