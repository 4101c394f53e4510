from __future__ import annotations

from typing import Any

import pytest

from iotdm.domain import notifications
from iotdm.domain.devices import INFO_COLUMNS, device_info, device_view, is_valid_psk, shadow_view
from iotdm.domain.notifications import BindResult


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column: None for _, column in INFO_COLUMNS}
    row.update(
        device_id="d1",
        gateway_id="d1",
        node_type="GATEWAY",
        node_id="n1",
        status="INACTIVE",
        status_detail="NOT_ACTIVE",
        mute="FALSE",
        is_secure=False,
        imsi="460001",
        radius_ip="10.0.0.1",
        created_at=1_450_000_000_000,
        modified_at=1_450_000_001_000,
    )
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("psk", "valid"), [("0123abCD", True), ("f" * 32, True), ("0123abc", False), ("f" * 33, False), ("0123abcg", False)]
)
def test_psk_is_8_to_32_hex_digits(psk: str, valid: bool) -> None:
    assert is_valid_psk(psk) is valid


def test_device_info_has_every_documented_key() -> None:
    info = device_info(_row())
    assert set(info) == {field for field, _ in INFO_COLUMNS} | {"isSecurity"}
    assert info["isSecurity"] == "FALSE"
    assert info["imsi"] == "460001"


def test_device_info_without_imsi_keeps_the_key() -> None:
    assert device_info(_row(), with_imsi=False)["imsi"] is None


def test_short_device_info_leaves_out_query_only_fields() -> None:
    info = device_info(_row(), full=False)
    assert "imsi" not in info and "radiusIp" not in info
    assert info["nodeId"] == "n1"


def test_device_view_lists_only_services_with_reported_data() -> None:
    services = [
        {"service_id": "A", "service_type": "T", "data": {"x": 1}, "event_time": 1_450_000_002_000, "desired": None},
        {"service_id": "B", "service_type": None, "data": None, "event_time": None, "desired": {"y": 2}},
    ]
    view = device_view(_row(), services, with_imsi=True)
    assert view["createTime"] == "20151213T094640Z"
    assert [s["serviceId"] for s in view["services"]] == ["A"]
    assert view["services"][0]["eventTime"] == "20151213T094642Z"
    assert view["alarmInfo"] is None
    shadow = shadow_view(_row(), services)
    assert [(s["serviceId"], s["desiredProps"]) for s in shadow["services"]] == [("A", None), ("B", {"y": 2})]


def test_notification_payloads() -> None:
    row = _row()
    added = notifications.device_added(row)
    assert added["notifyType"] == "deviceAdded" and added["gatewayId"] == "d1" and added["nodeType"] == "GATEWAY"
    assert added["deviceInfo"]["status"] == "INACTIVE" and "imsi" not in added["deviceInfo"]
    assert notifications.bind_device(row, BindResult.EXPIRED)["resultCode"] == "expired"
    assert notifications.device_info_changed(row)["deviceInfo"]["nodeId"] == "n1"
    assert notifications.device_deleted(row) == {"notifyType": "deviceDeleted", "deviceId": "d1", "gatewayId": "d1"}
