"""Push delivery rules (DECISIONS S3): how many to start per subscription, when a failed push is tried again,
and when it is given up as a dead letter."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

FIRST_RETRY_MS = 1_000
MAX_RETRY_MS = 300_000


def backoff_ms(attempts: int) -> int:
    """The wait after the ``attempts``-th failed attempt: 1 s, doubling, at most 5 minutes."""
    if attempts < 1:
        raise ValueError("backoff follows a failed attempt")
    # The shift is bounded so that a push failing for weeks does not build a huge integer.
    return min(MAX_RETRY_MS, FIRST_RETRY_MS << min(attempts - 1, 32))


def next_attempt_at(created_at: int, attempts: int, now: int, retry_period_ms: int) -> int | None:
    """When to try again after ``attempts`` failures, or None once the retry period (counted from the event's
    creation) is over: the push becomes a dead letter. The last attempt falls on the end of the period."""
    deadline = created_at + retry_period_ms
    if now >= deadline:
        return None
    return min(now + backoff_ms(attempts), deadline)


def within_limit(items: Sequence[T], key: Callable[[T], str], in_flight: Mapping[str, int], limit: int) -> list[T]:
    """The items to start, in order, so that no key (a subscription) has more than ``limit`` in flight."""
    counts = dict(in_flight)
    chosen = []
    for item in items:
        k = key(item)
        if counts.get(k, 0) < limit:
            counts[k] = counts.get(k, 0) + 1
            chosen.append(item)
    return chosen
