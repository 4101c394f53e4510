"""Per-app flow control (DECISIONS G6): a sliding one-minute window.

The window is approximated from the counts of the current and the previous minute (weighted by how much
of the previous minute still lies inside the window), so each app costs two integers, whatever its limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_WINDOW = 60.0


@dataclass
class _Counts:
    minute: int
    current: int = 0
    previous: int = 0


@dataclass
class SlidingWindowLimiter:
    _apps: dict[str, _Counts] = field(default_factory=dict)

    def allow(self, app_id: str, limit: int, now: float) -> bool:
        """Count one call at ``now`` (seconds) unless it would exceed ``limit`` calls/minute; 0 = unlimited."""
        if limit <= 0:
            return True
        minute = int(now // _WINDOW)
        counts = self._apps.get(app_id)
        if counts is None:
            counts = self._apps[app_id] = _Counts(minute)
        elif counts.minute != minute:
            counts.previous = counts.current if counts.minute == minute - 1 else 0
            counts.current = 0
            counts.minute = minute
        elapsed = (now % _WINDOW) / _WINDOW
        if counts.previous * (1.0 - elapsed) + counts.current + 1 > limit:
            return False
        counts.current += 1
        return True
