from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from iotdm.domain.times import format_time, parse_event_time, parse_time


def test_format_is_utc_compact() -> None:
    moment = datetime(2015, 12, 12, 20, 12, 12, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(moment) == "20151212T121212Z"


def test_parse_round_trips() -> None:
    assert format_time(parse_time("20151212T121212Z")) == "20151212T121212Z"


@pytest.mark.parametrize(
    "text", ["2015-12-12T12:12:12Z", "20151212T121212", "20151312T121212Z", "", "20151212T12:12:12Z"]
)
def test_parse_rejects_other_formats(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_event_time_tolerates_colons_and_falls_back_to_none() -> None:
    expected = datetime(2016, 12, 19, 11, 49, 20, tzinfo=UTC)
    assert parse_event_time("20161219T114920Z") == expected
    assert parse_event_time("20161219T11:49:20Z") == expected
    assert parse_event_time("yesterday") is None
    assert parse_event_time(None) is None
    assert parse_event_time(20161219) is None
