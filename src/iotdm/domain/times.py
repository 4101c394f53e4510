"""The reference's time format: UTC ``yyyyMMdd'T'HHmmss'Z'`` (DECISIONS G2)."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y%m%dT%H%M%SZ"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse an input time; raises ValueError when it is not in the reference's format."""
    if len(text) != 16:
        raise ValueError(f"not a yyyyMMdd'T'HHmmss'Z' time: {text!r}")
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def parse_event_time(value: object) -> datetime | None:
    """A device's ``eventTime``: the reference's format or ``yyyyMMdd'T'HH:mm:ss'Z'`` (G2); None when missing or
    invalid, which means "use the receive time"."""
    if not isinstance(value, str):
        return None
    for fmt in (_FORMAT, "%Y%m%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
