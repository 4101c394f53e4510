"""Wall-clock time in the units the store keeps (UTC epoch milliseconds)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def from_datetime(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
