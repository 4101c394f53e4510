from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver of the test's own, closed after it (the shared one never closes)."""
    running = Receiver()
    yield running
    running.close()
