from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from iotdm.store.engine import Database
from tests import harness
from tests.harness import TEST_DATABASE_URL, App, PlatformThread, new_app, reset_database


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformThread]:
    """The platform under test, shared by the session; each test works in apps of its own."""
    if TEST_DATABASE_URL:
        reset_database(TEST_DATABASE_URL)
    running = PlatformThread(Path(tmp_path_factory.mktemp("iotdm-data")))
    running.start()
    yield running
    running.close()


@pytest.fixture
def make_app(node: PlatformThread) -> Iterator[Callable[..., App]]:
    """Creates further apps (``make_app(rate_limit=3)``); their clients are closed after the test."""
    made: list[App] = []

    def make(name: str = "test", rate_limit: int | None = 0) -> App:
        made.append(new_app(node, name, rate_limit))
        return made[-1]

    yield make
    for created in made:
        created.http.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, migrated database of the test's own, without a platform (SQLite, or PostgreSQL when tested on)."""
    name = f"iotdm_test_{uuid.uuid4().hex[:12]}"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    if harness.TEST_DATABASE_URL:
        await _admin_async(harness.TEST_DATABASE_URL, f'CREATE DATABASE "{name}"')
        url = make_url(harness.TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    await db.migrate()
    yield db
    await db.close()
    if harness.TEST_DATABASE_URL:
        await _admin_async(harness.TEST_DATABASE_URL, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def start_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., PlatformThread]]:
    """Starts platforms with settings of their own (``start_node(push_retry_period=2)``), closed after the test;
    ``start_node(join=node)`` starts another node of ``node``'s cluster (same data dir and database).

    On PostgreSQL each new cluster gets a database of its own: sharing the session's would make it a node of the
    session's cluster, whose dispatcher (with other settings) could take these pushes over.
    """
    made: list[PlatformThread] = []
    databases: list[str] = []

    def start(join: PlatformThread | None = None, **overrides: Any) -> PlatformThread:
        if join is not None:
            monkeypatch.setattr(harness, "TEST_DATABASE_URL", join.settings.database_url)
            running = PlatformThread(join.settings.data_dir, **overrides)
            made.append(running)
            running.start()
            return running
        if harness.TEST_DATABASE_URL:
            name, url = _new_database(harness.TEST_DATABASE_URL)
            databases.append(name)
            monkeypatch.setattr(harness, "TEST_DATABASE_URL", url)
        running = PlatformThread(tmp_path / f"node-{len(made)}", **overrides)
        made.append(running)
        running.start()
        return running

    yield start
    for running in made:
        running.close()
    monkeypatch.undo()
    for name in databases:
        assert harness.TEST_DATABASE_URL
        _admin(harness.TEST_DATABASE_URL, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def own_database_url() -> Iterator[str | None]:
    """A database of the test's own on PostgreSQL, for platforms run as processes; None on SQLite, where each data
    dir has its own."""
    if not harness.TEST_DATABASE_URL:
        yield None
        return
    name, url = _new_database(harness.TEST_DATABASE_URL)
    yield url
    _admin(harness.TEST_DATABASE_URL, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def app_on() -> Iterator[Callable[[PlatformThread], App]]:
    """Creates apps on a node of the test's own; their clients are closed after the test."""
    made: list[App] = []

    def make(node: PlatformThread) -> App:
        made.append(new_app(node))
        return made[-1]

    yield make
    for app in made:
        app.http.close()


def _new_database(server_url: str) -> tuple[str, str]:
    """A new, empty database on the server of ``server_url``: its name and URL."""
    name = f"iotdm_test_{uuid.uuid4().hex[:12]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    return name, make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, statement: str) -> None:
    asyncio.run(_admin_async(url, statement))


async def _admin_async(url: str, statement: str) -> None:
    """A statement that cannot run in a transaction (CREATE / DROP DATABASE), on the server of ``url``."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(statement))
    await engine.dispose()
