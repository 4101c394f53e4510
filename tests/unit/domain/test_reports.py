from __future__ import annotations

import pytest

from iotdm.domain.reports import InvalidReport, ServiceData, parse_message, parse_report


def test_report_services_and_event_times() -> None:
    message = parse_message(
        b'{"msgType":"deviceReq","data":[{"serviceId":"Battery","serviceData":{"level":75},'
        b'"eventTime":"20160503T121540Z"},{"serviceId":"T","serviceData":{},"eventTime":"20160503T12:15:40Z"},'
        b'{"serviceId":"U","serviceData":{"x":1},"eventTime":"soon"}]}'
    )
    services = parse_report(message)
    assert services[0] == ServiceData("Battery", {"level": 75}, 1462277740000)
    assert services[1].event_time == 1462277740000  # the colon form of G2
    assert services[2].event_time is None  # invalid: the receive time will be used


@pytest.mark.parametrize(
    "payload",
    [b"nope", b"[]", b'"x"'],
)
def test_payload_must_be_a_json_object(payload: bytes) -> None:
    with pytest.raises(InvalidReport):
        parse_message(payload)


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"data": []},
        {"data": {}},
        {"data": [1]},
        {"data": [{"serviceData": {}}]},
        {"data": [{"serviceId": "", "serviceData": {}}]},
        {"data": [{"serviceId": "s" * 257, "serviceData": {}}]},
        {"data": [{"serviceId": "S", "serviceData": [1]}]},
        {"data": [{"serviceId": 5, "serviceData": {}}]},
    ],
)
def test_invalid_reports(message: dict[str, object]) -> None:
    with pytest.raises(InvalidReport):
        parse_report(message)
