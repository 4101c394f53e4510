"""``iotdm push dead-letters list|show|replay|purge`` as an operator runs them, with and without a running server.
Subscriptions and dead letters are written straight into the database: the dispatcher writes them in real life."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa

from iotdm.services.clock import now_ms
from iotdm.settings import Settings
from iotdm.store.engine import Database
from iotdm.store.schema import dead_letters, pushes, subscriptions
from tests.harness import TEST_DATABASE_URL
from tests.processes import Server, iotdm

T = TypeVar("T")


def on_database(data_dir: Path, fn: Callable[[sa.Connection], T]) -> T:
    """Run a store function in one transaction on the database the commands use."""

    async def run() -> T:
        db = Database(Settings(data_dir=data_dir, database_url=TEST_DATABASE_URL).resolved_database_url())
        try:
            return await db.write(fn)
        finally:
            await db.close()

    return asyncio.run(run())


class Fleet:
    """An app made through the CLI, with subscriptions and dead letters inserted for it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        created = iotdm("app", "create", "pushes", "--json", data_dir=data_dir)
        assert created.returncode == 0, created.stdout + created.stderr
        self.credentials: dict[str, str] = json.loads(created.stdout)
        self.app_id = self.credentials["appId"]

    def subscribe(self, notify_type: str = "deviceDataChanged") -> str:
        subscription_id = uuid.uuid4().hex
        row = {
            "subscription_id": subscription_id,
            "app_id": self.app_id,
            "created_by": self.app_id,
            "notify_type": notify_type,
            "callback_url": "http://127.0.0.1:9/hook",
            "channel": "HTTP",
            "owner_flag": False,
            "created_at": now_ms(),
        }
        on_database(self.data_dir, lambda conn: conn.execute(subscriptions.insert().values(**row)))
        return subscription_id

    def dead_letter(self, subscription_id: str, notify_type: str = "deviceDataChanged", n: int = 0) -> int:
        failed_at = now_ms()
        row = {
            "subscription_id": subscription_id,
            "app_id": self.app_id,
            "notify_type": notify_type,
            "callback_url": "http://127.0.0.1:9/hook",
            "channel": "HTTP",
            "device_id": "dev-1",
            "payload": {"notifyType": notify_type, "deviceId": "dev-1", "n": n},
            "attempts": 5,
            "last_error": "HTTP 503",
            "created_at": failed_at - 1000,
            "failed_at": failed_at,
        }

        def insert(conn: sa.Connection) -> int:
            return int(conn.execute(dead_letters.insert().values(**row).returning(dead_letters.c.id)).scalar_one())

        return on_database(self.data_dir, insert)

    def pushes(self, subscription_id: str) -> list[dict[str, Any]]:
        query = pushes.select().where(pushes.c.subscription_id == subscription_id).order_by(pushes.c.id)
        return on_database(self.data_dir, lambda conn: [dict(row) for row in conn.execute(query).mappings()])

    def listed(self, *filters: str) -> list[dict[str, Any]]:
        result = iotdm("push", "dead-letters", "list", "--app", self.app_id, "--json", *filters, data_dir=self.data_dir)
        assert result.returncode == 0, result.stdout + result.stderr
        letters: list[dict[str, Any]] = json.loads(result.stdout)
        return letters


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path / "data")


def test_list_and_show(fleet: Fleet) -> None:
    data = fleet.subscribe()
    added = fleet.subscribe("deviceAdded")
    older = fleet.dead_letter(data, n=1)
    newer = fleet.dead_letter(added, "deviceAdded", n=2)

    assert [letter["id"] for letter in fleet.listed()] == [newer, older]
    assert [letter["id"] for letter in fleet.listed("--type", "deviceAdded")] == [newer]
    assert [letter["id"] for letter in fleet.listed("--subscription", data)] == [older]
    assert [letter["id"] for letter in fleet.listed("--limit", "1")] == [newer]

    table = iotdm("push", "dead-letters", "list", "--app", fleet.app_id, data_dir=fleet.data_dir)
    assert table.returncode == 0, table.stderr
    assert data in table.stdout and "deviceAdded" in table.stdout and "HTTP 503" in table.stdout
    assert "2 of 2 dead letters" in table.stdout

    shown = iotdm("push", "dead-letters", "show", str(older), data_dir=fleet.data_dir)
    assert shown.returncode == 0, shown.stderr
    letter = json.loads(shown.stdout)
    assert letter["payload"] == {"notifyType": "deviceDataChanged", "deviceId": "dev-1", "n": 1}
    assert letter["lastError"] == "HTTP 503" and letter["attempts"] == 5 and letter["subscriptionId"] == data

    missing = iotdm("push", "dead-letters", "show", str(newer + 1_000_000), data_dir=fleet.data_dir)
    assert missing.returncode == 1 and "no dead letter" in missing.stdout


def test_replay_by_id(fleet: Fleet) -> None:
    subscription = fleet.subscribe()
    letter = fleet.dead_letter(subscription, n=7)
    orphan = fleet.dead_letter(uuid.uuid4().hex)

    before = now_ms()
    replayed = iotdm("push", "dead-letters", "replay", str(letter), data_dir=fleet.data_dir)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed 1 dead letters" in replayed.stdout
    [push] = fleet.pushes(subscription)
    assert push["payload"]["n"] == 7 and push["device_id"] == "dev-1"
    assert before <= push["created_at"] <= now_ms()
    assert [entry["id"] for entry in fleet.listed()] == [orphan]

    kept = iotdm("push", "dead-letters", "replay", str(orphan), data_dir=fleet.data_dir)
    assert kept.returncode == 1 and "no longer exists" in kept.stdout
    assert [entry["id"] for entry in fleet.listed()] == [orphan]

    again = iotdm("push", "dead-letters", "replay", str(letter), data_dir=fleet.data_dir)
    assert again.returncode == 1 and f"no dead letter {letter}" in again.stdout


def test_replay_all_with_filters(fleet: Fleet) -> None:
    data = fleet.subscribe()
    added = fleet.subscribe("deviceAdded")
    fleet.dead_letter(data, n=1)
    fleet.dead_letter(data, n=2)
    other = fleet.dead_letter(added, "deviceAdded")
    orphan = fleet.dead_letter(uuid.uuid4().hex)

    filters = ["--app", fleet.app_id, "--type", "deviceDataChanged"]
    result = iotdm("push", "dead-letters", "replay", "--all", *filters, data_dir=fleet.data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replayed 2 dead letters" in result.stdout and f"kept {orphan}" in result.stdout
    assert [push["payload"]["n"] for push in fleet.pushes(data)] == [1, 2]
    assert sorted(entry["id"] for entry in fleet.listed()) == sorted([other, orphan])


def test_purge(fleet: Fleet) -> None:
    subscription = fleet.subscribe()
    first = fleet.dead_letter(subscription)
    fleet.dead_letter(subscription)
    fleet.dead_letter(uuid.uuid4().hex)  # purged too, though its subscription is gone

    one = iotdm("push", "dead-letters", "purge", str(first), data_dir=fleet.data_dir)
    assert one.returncode == 0 and "deleted 1 dead letters" in one.stdout
    gone = iotdm("push", "dead-letters", "purge", str(first), data_dir=fleet.data_dir)
    assert gone.returncode == 1 and "named no dead letter" in gone.stdout

    every = iotdm("push", "dead-letters", "purge", "--all", "--app", fleet.app_id, data_dir=fleet.data_dir)
    assert every.returncode == 0 and "deleted 2 dead letters" in every.stdout
    assert fleet.listed() == [] and fleet.pushes(subscription) == []


@pytest.mark.parametrize(
    "args",
    [
        ["replay"],  # neither ids nor --all
        ["replay", "1", "--all"],
        ["replay", "1", "--app", "x"],
        ["replay", "--app", "x"],  # filters without --all
        ["purge"],
        ["replay", "not-a-number"],
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str]) -> None:
    assert iotdm("push", "dead-letters", *args, data_dir=tmp_path / "data").returncode == 2


def test_replay_beside_a_running_server(fleet: Fleet) -> None:
    server = Server(fleet.data_dir, "--no-tls")
    try:
        subscription = fleet.subscribe()
        letter = fleet.dead_letter(subscription)
        replayed = iotdm("push", "dead-letters", "replay", str(letter), data_dir=fleet.data_dir)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        token = (fleet.data_dir / "admin.token").read_text().strip()
        with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as admin:
            assert admin.get(f"/admin/dead-letters/{letter}").status_code == 404
        assert [push["subscription_id"] for push in fleet.pushes(subscription)] == [subscription]
    finally:
        assert server.stop() == 0
