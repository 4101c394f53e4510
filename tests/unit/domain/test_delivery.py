from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotdm.domain.delivery import MAX_RETRY_MS, backoff_ms, next_attempt_at, within_limit

DAY_MS = 86_400_000


def test_backoff_starts_at_one_second_and_doubles() -> None:
    assert [backoff_ms(n) for n in range(1, 7)] == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]


def test_backoff_is_capped_at_five_minutes() -> None:
    assert backoff_ms(9) == 256_000
    assert backoff_ms(10) == MAX_RETRY_MS == 300_000
    assert backoff_ms(10_000) == MAX_RETRY_MS


def test_backoff_needs_a_failed_attempt() -> None:
    with pytest.raises(ValueError):
        backoff_ms(0)


@given(st.integers(min_value=1, max_value=100_000))
def test_backoff_never_shrinks(attempts: int) -> None:
    assert 1_000 <= backoff_ms(attempts) <= backoff_ms(attempts + 1) <= MAX_RETRY_MS


def test_retry_after_the_backoff() -> None:
    assert next_attempt_at(created_at=0, attempts=1, now=500, retry_period_ms=DAY_MS) == 1_500
    assert next_attempt_at(created_at=0, attempts=3, now=10_000, retry_period_ms=DAY_MS) == 14_000


def test_the_last_attempt_falls_on_the_end_of_the_period() -> None:
    assert next_attempt_at(created_at=0, attempts=4, now=1_000, retry_period_ms=5_000) == 5_000


def test_given_up_once_the_period_is_over() -> None:
    assert next_attempt_at(created_at=0, attempts=5, now=5_000, retry_period_ms=5_000) is None
    assert next_attempt_at(created_at=0, attempts=1, now=DAY_MS + 1, retry_period_ms=DAY_MS) is None


def test_a_zero_period_gives_up_after_the_first_failure() -> None:
    assert next_attempt_at(created_at=100, attempts=1, now=100, retry_period_ms=0) is None


def test_within_limit_keeps_order_and_counts_what_is_in_flight() -> None:
    items = [("a", 1), ("b", 2), ("a", 3), ("a", 4), ("c", 5), ("b", 6)]
    chosen = within_limit(items, lambda item: item[0], {"a": 1, "c": 2}, limit=2)
    assert chosen == [("a", 1), ("b", 2), ("b", 6)]


def test_within_limit_takes_nothing_past_the_limit() -> None:
    assert within_limit(["a", "a"], str, {"a": 5}, limit=2) == []
    assert within_limit([], str, {}, limit=2) == []
