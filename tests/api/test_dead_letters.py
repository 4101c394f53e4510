"""Dead letters on the admin API (DECISIONS S3): list with filters and paging, one with its payload, replay one
or by filter (a fresh ``pushes`` row, the letter removed; a letter whose subscription is gone is kept), delete,
and the admin token. Rows are set up directly in the database: the dispatcher writes them in real life."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from iotdm.services.clock import now_ms
from iotdm.store import dead_letters as store
from iotdm.store.dead_letters import DeadLetterFilter
from iotdm.store.schema import dead_letters, pushes, subscriptions
from tests.harness import App, PlatformThread, assert_error

BASE = "/admin/dead-letters"
CALLBACK = "http://127.0.0.1:9/unreachable"


# ---------------------------------------------------------------------------------------------------- helpers


def subscribe(node: PlatformThread, app_id: str, notify_type: str = "deviceDataChanged") -> str:
    subscription_id = uuid.uuid4().hex
    row = {
        "subscription_id": subscription_id,
        "app_id": app_id,
        "created_by": app_id,
        "notify_type": notify_type,
        "callback_url": CALLBACK,
        "channel": "HTTP",
        "owner_flag": False,
        "created_at": now_ms(),
    }
    node.write(lambda conn: conn.execute(subscriptions.insert().values(**row)))
    return subscription_id


def dead_letter(
    node: PlatformThread,
    app_id: str,
    subscription_id: str,
    *,
    notify_type: str = "deviceDataChanged",
    device_id: str = "dev-1",
    failed_at: int | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    failed = failed_at if failed_at is not None else now_ms()
    row = {
        "subscription_id": subscription_id,
        "app_id": app_id,
        "notify_type": notify_type,
        "callback_url": CALLBACK,
        "channel": "HTTP",
        "device_id": device_id,
        "payload": payload or {"notifyType": notify_type, "deviceId": device_id, "n": uuid.uuid4().hex},
        "attempts": 7,
        "last_error": "connection refused",
        "created_at": failed - 60_000,
        "failed_at": failed,
    }

    def insert(conn: sa.Connection) -> int:
        return int(conn.execute(dead_letters.insert().values(**row).returning(dead_letters.c.id)).scalar_one())

    return node.write(insert)


def pushes_of(node: PlatformThread, subscription_id: str) -> list[dict[str, Any]]:
    query = pushes.select().where(pushes.c.subscription_id == subscription_id).order_by(pushes.c.id)
    return node.read(lambda conn: [dict(row) for row in conn.execute(query).mappings()])


def ids_listed(node: PlatformThread, **params: Any) -> list[int]:
    with node.admin() as admin:
        r = admin.get(BASE, params=params)
    assert r.status_code == 200, r.text
    return [letter["id"] for letter in r.json()["deadLetters"]]


# ---------------------------------------------------------------------------------------------------- listing


def test_list_is_newest_first_with_filters_and_paging(node: PlatformThread, app: App) -> None:
    data = subscribe(node, app.app_id)
    added = subscribe(node, app.app_id, "deviceAdded")
    start = now_ms()
    oldest = dead_letter(node, app.app_id, data, failed_at=start - 3000)
    middle = dead_letter(node, app.app_id, added, notify_type="deviceAdded", failed_at=start - 2000)
    newest = dead_letter(node, app.app_id, data, failed_at=start - 1000)

    with node.admin() as admin:
        r = admin.get(BASE, params={"appId": app.app_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totalCount"] == 3 and body["offset"] == 0 and body["limit"] == 100
    assert [letter["id"] for letter in body["deadLetters"]] == [newest, middle, oldest]
    first = body["deadLetters"][0]
    assert first == {
        "id": newest,
        "subscriptionId": data,
        "appId": app.app_id,
        "notifyType": "deviceDataChanged",
        "callbackUrl": CALLBACK,
        "channel": "HTTP",
        "deviceId": "dev-1",
        "attempts": 7,
        "lastError": "connection refused",
        "createdAt": first["createdAt"],
        "failedAt": first["failedAt"],
    }
    assert len(first["failedAt"]) == 16 and first["failedAt"].endswith("Z")

    assert ids_listed(node, appId=app.app_id, subscriptionId=data) == [newest, oldest]
    assert ids_listed(node, appId=app.app_id, notifyType="deviceAdded") == [middle]
    assert ids_listed(node, appId=app.app_id, limit=1, offset=1) == [middle]
    with node.admin() as admin:
        page = admin.get(BASE, params={"appId": app.app_id, "limit": 2, "offset": 2}).json()
    assert page["totalCount"] == 3 and [letter["id"] for letter in page["deadLetters"]] == [oldest]


def test_another_apps_letters_are_not_listed_under_this_app(node: PlatformThread, make_app: Callable[..., App]) -> None:
    mine, theirs = make_app(), make_app()
    kept = dead_letter(node, mine.app_id, subscribe(node, mine.app_id))
    dead_letter(node, theirs.app_id, subscribe(node, theirs.app_id))
    assert ids_listed(node, appId=mine.app_id) == [kept]


def test_invalid_paging_is_refused(node: PlatformThread) -> None:
    with node.admin() as admin:
        for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "ten"}):
            assert_error(admin.get(BASE, params=params), 400, "50400")
        assert_error(admin.get(f"{BASE}/first"), 400, "50400")


def test_one_dead_letter_with_its_payload(node: PlatformThread, app: App) -> None:
    subscription = subscribe(node, app.app_id)
    payload = {"notifyType": "deviceDataChanged", "deviceId": "dev-9", "service": {"data": {"t": 21.5}}}
    letter = dead_letter(node, app.app_id, subscription, device_id="dev-9", payload=payload)
    with node.admin() as admin:
        r = admin.get(f"{BASE}/{letter}")
        missing = admin.get(f"{BASE}/{letter + 1_000_000}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == letter and body["payload"] == payload
    assert body["lastError"] == "connection refused" and body["deviceId"] == "dev-9"
    assert missing.status_code == 404 and missing.content == b""


def test_a_letter_of_no_device_shows_a_null_device(node: PlatformThread, app: App) -> None:
    letter = dead_letter(node, app.app_id, subscribe(node, app.app_id, "deviceModelAdded"), device_id="")
    with node.admin() as admin:
        assert admin.get(f"{BASE}/{letter}").json()["deviceId"] is None


# ---------------------------------------------------------------------------------------------------- replay


def test_replay_queues_a_fresh_push_and_removes_the_letter(node: PlatformThread, app: App) -> None:
    subscription = subscribe(node, app.app_id)
    payload = {"notifyType": "deviceDataChanged", "deviceId": "dev-2", "n": 1}
    letter = dead_letter(node, app.app_id, subscription, device_id="dev-2", payload=payload)
    before = now_ms()
    with node.admin() as admin:
        r = admin.post(f"{BASE}/{letter}/replay")
        assert r.status_code == 204, r.text
        assert admin.get(f"{BASE}/{letter}").status_code == 404
        assert admin.post(f"{BASE}/{letter}/replay").status_code == 404
    after = now_ms()
    [push] = pushes_of(node, subscription)
    assert push["device_id"] == "dev-2" and push["payload"] == payload
    assert before <= push["created_at"] <= after


def test_a_letter_whose_subscription_is_gone_is_not_replayed(node: PlatformThread, app: App) -> None:
    gone = uuid.uuid4().hex
    letter = dead_letter(node, app.app_id, gone)
    with node.admin() as admin:
        r = admin.post(f"{BASE}/{letter}/replay")
        assert r.status_code == 409, r.text
        assert gone in r.json()["detail"] and "no longer exists" in r.json()["detail"]
        assert admin.get(f"{BASE}/{letter}").status_code == 200
    assert pushes_of(node, gone) == []


def test_replay_by_filter(node: PlatformThread, app: App) -> None:
    data = subscribe(node, app.app_id)
    added = subscribe(node, app.app_id, "deviceAdded")
    first = dead_letter(node, app.app_id, data, device_id="a", payload={"deviceId": "a", "n": 1})
    second = dead_letter(node, app.app_id, data, device_id="a", payload={"deviceId": "a", "n": 2})
    other_type = dead_letter(node, app.app_id, added, notify_type="deviceAdded")
    orphan = dead_letter(node, app.app_id, uuid.uuid4().hex)

    with node.admin() as admin:
        r = admin.post(f"{BASE}/replay", params={"appId": app.app_id, "notifyType": "deviceDataChanged"})
    assert r.status_code == 200, r.text
    assert r.json() == {"replayed": 2, "orphaned": [orphan]}
    # A device's letters are queued again in the order they failed in.
    assert [push["payload"]["n"] for push in pushes_of(node, data)] == [1, 2]
    left = ids_listed(node, appId=app.app_id)
    assert sorted(left) == sorted([other_type, orphan]) and first not in left and second not in left

    with node.admin() as admin:
        rest = admin.post(f"{BASE}/replay", params={"appId": app.app_id}).json()
    assert rest == {"replayed": 1, "orphaned": [orphan]}
    assert len(pushes_of(node, added)) == 1


def test_a_letter_taken_by_another_replay_is_not_queued_twice(node: PlatformThread, app: App) -> None:
    subscription = subscribe(node, app.app_id)
    letter = dead_letter(node, app.app_id, subscription)
    # Two replays that both read the letter before either took it (SQLite reads without locks).
    rows = node.read(lambda conn: store.for_replay(conn, DeadLetterFilter(ids=(letter,)), 0, letter, 10))
    assert node.write(lambda conn: store.requeue(conn, rows, now_ms())) == [letter]
    assert node.write(lambda conn: store.requeue(conn, rows, now_ms())) == []
    assert len(pushes_of(node, subscription)) == 1


# ---------------------------------------------------------------------------------------------------- delete


def test_delete_one(node: PlatformThread, app: App) -> None:
    letter = dead_letter(node, app.app_id, subscribe(node, app.app_id))
    with node.admin() as admin:
        assert admin.delete(f"{BASE}/{letter}").status_code == 204
        assert admin.get(f"{BASE}/{letter}").status_code == 404
        assert admin.delete(f"{BASE}/{letter}").status_code == 404


# ---------------------------------------------------------------------------------------------------- token


def test_every_route_needs_the_admin_token(node: PlatformThread, app: App) -> None:
    letter = dead_letter(node, app.app_id, subscribe(node, app.app_id))
    calls = [
        ("GET", BASE),
        ("GET", f"{BASE}/{letter}"),
        ("POST", f"{BASE}/{letter}/replay"),
        ("POST", f"{BASE}/replay"),
        ("DELETE", f"{BASE}/{letter}"),
    ]
    with node.client() as anonymous:
        for method, path in calls:
            assert_error(anonymous.request(method, path), 403, "1010005")
            wrong = anonymous.request(method, path, headers={"Authorization": "Bearer not-the-token"})
            assert_error(wrong, 403, "1010005")
    with node.admin() as admin:
        assert admin.get(f"{BASE}/{letter}").status_code == 200
