from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
