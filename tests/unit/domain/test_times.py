from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from iotdm.domain.times import format_time, parse_time


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
