from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from iotdm.domain.device_auth import AuthType, expected_password, parse_client_id, password_matches, timestamp_fresh


def test_client_id_parts() -> None:
    client = parse_client_id("my_device_id_2_1_2018072417")
    assert client is not None
    assert client.device_ref == "my_device_id"  # the id itself may contain underscores
    assert client.auth_type is AuthType.NODE_ID
    assert client.check_time
    assert client.hour == datetime(2018, 7, 24, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    "client_id",
    [
        "dev",
        "dev_0_1",
        "_0_1_2018072417",
        "dev_3_1_2018072417",
        "dev_0_2_2018072417",
        "dev_0_1_201807241",
        "dev_0_1_2018132417",
        "dev_0_1_20180724170",
        "dev_0_1_2018072425",
    ],
)
def test_malformed_client_ids(client_id: str) -> None:
    assert parse_client_id(client_id) is None


def test_password_is_hmac_sha256_keyed_by_the_timestamp() -> None:
    expected = hmac.new(b"2018072417", b"s3cret", hashlib.sha256).hexdigest()
    assert expected_password("s3cret", "2018072417") == expected
    assert password_matches(expected.encode(), "s3cret", "2018072417")
    assert password_matches(expected.upper().encode(), "s3cret", "2018072417")
    assert not password_matches(b"s3cret", "s3cret", "2018072417")
    assert not password_matches(None, "s3cret", "2018072417")
    assert not password_matches(b"\xff\xfe", "s3cret", "2018072417")


def test_timestamp_checked_only_with_sign_type_1() -> None:
    now = datetime(2020, 1, 1, 12, 30, tzinfo=UTC)
    checked = parse_client_id("d_0_1_2020010112")
    unchecked = parse_client_id("d_0_0_2001010100")
    stale = parse_client_id("d_0_1_2020010110")
    assert checked is not None and unchecked is not None and stale is not None
    assert timestamp_fresh(checked, now)
    assert timestamp_fresh(unchecked, now)
    assert not timestamp_fresh(stale, now)
