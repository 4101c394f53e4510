from __future__ import annotations

from iotdm.domain.ratelimit import SlidingWindowLimiter


def test_limit_within_one_minute() -> None:
    limiter = SlidingWindowLimiter()
    assert all(limiter.allow("a", 3, 0.0 + i) for i in range(3))
    assert not limiter.allow("a", 3, 10.0)


def test_apps_are_counted_apart() -> None:
    limiter = SlidingWindowLimiter()
    assert limiter.allow("a", 1, 0.0)
    assert not limiter.allow("a", 1, 1.0)
    assert limiter.allow("b", 1, 1.0)


def test_zero_means_unlimited() -> None:
    limiter = SlidingWindowLimiter()
    assert all(limiter.allow("a", 0, float(i) / 1000) for i in range(10_000))


def test_window_slides_rather_than_resetting_at_the_minute() -> None:
    limiter = SlidingWindowLimiter()
    assert all(limiter.allow("a", 10, 59.0) for _ in range(10))
    # One second into the next minute almost the whole previous minute is still inside the window.
    assert not limiter.allow("a", 10, 61.0)
    # Half a minute later half of those calls have slid out.
    assert all(limiter.allow("a", 10, 90.0) for _ in range(5))
    assert not limiter.allow("a", 10, 90.0)


def test_a_quiet_minute_forgets_everything() -> None:
    limiter = SlidingWindowLimiter()
    assert all(limiter.allow("a", 5, 0.0) for _ in range(5))
    assert all(limiter.allow("a", 5, 150.0) for _ in range(5))


def test_refused_calls_are_not_counted() -> None:
    limiter = SlidingWindowLimiter()
    assert limiter.allow("a", 1, 0.0)
    for _ in range(100):
        limiter.allow("a", 1, 1.0)
    assert limiter.allow("a", 1, 120.0)
