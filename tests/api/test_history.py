"""§1.5.3 device data history and §1.5.4 shadow desired history: paging and defaults (G7), filters, the time
window (D5), the ids rule (100419), unknown and foreign devices (100418, D7), the authorized app (G5)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from iotdm.store.schema import data_history, devices
from tests.harness import App, assert_error, unique_node_id

DATA = "/iocm/app/data/v1.2.0/deviceDataHistory"
DESIRED = "/iocm/app/shadow/v1.5.0/deviceDesiredHistory"
SHADOW = "/iocm/app/shadow/v1.5.0/devices"
DEVICES = "/iocm/app/dm/v1.4.0/devices"
TIME = re.compile(r"^\d{8}T\d{6}Z$")
RECORD_KEYS = {"serviceId", "deviceId", "gatewayId", "appId", "timestamp"}

BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------- helpers


def add_data(app: App, device_id: str, service_id: str, data: dict[str, Any], at: int | datetime) -> None:
    """A stored report of a real device (device ingest does not exist yet): the row as ingest will write it."""
    timestamp = at if isinstance(at, int) else ms(at)

    def insert(conn: sa.Connection) -> None:
        device = conn.execute(devices.select().where(devices.c.device_id == device_id)).mappings().one()
        conn.execute(
            data_history.insert().values(
                device_id=device_id,
                gateway_id=device["gateway_id"],
                app_id=device["app_id"],
                service_id=service_id,
                data=data,
                timestamp=timestamp,
            )
        )

    app.node.write(insert)


def add_child(app: App, gateway_id: str) -> str:
    """A device under ``gateway_id`` (ENDPOINT), as a gateway will add it: no API creates one yet."""
    child_id = f"child-{unique_node_id()}"

    def insert(conn: sa.Connection) -> None:
        gateway = conn.execute(devices.select().where(devices.c.device_id == gateway_id)).mappings().one()
        row = {**gateway, "device_id": child_id, "node_id": unique_node_id(), "gateway_id": gateway_id}
        conn.execute(devices.insert().values(**{**row, "node_type": "ENDPOINT"}))

    app.node.write(insert)
    return child_id


def set_desired(app: App, device_id: str, *desireds: tuple[str, dict[str, Any]], **params: str) -> None:
    body = {"serviceDesireds": [{"serviceId": s, "desired": d} for s, d in desireds]}
    r = app.http.put(f"{SHADOW}/{device_id}", params=params, json=body)
    assert r.status_code == 200, r.text


def data_page(app: App, **params: Any) -> dict[str, Any]:
    r = app.http.get(DATA, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"totalCount", "pageNo", "pageSize", "deviceDataHistoryDTOs"}
    for record in body["deviceDataHistoryDTOs"]:
        assert set(record) == RECORD_KEYS | {"data"}
        assert TIME.match(record["timestamp"])
    return body


def desired_page(app: App, **params: Any) -> dict[str, Any]:
    r = app.http.get(DESIRED, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"totalCount", "pageNo", "pageSize", "DeviceDesiredHistoryDTO"}
    for record in body["DeviceDesiredHistoryDTO"]:
        assert set(record) == RECORD_KEYS | {"desired"}
        assert TIME.match(record["timestamp"])
    return body


def data_of(app: App, **params: Any) -> list[dict[str, Any]]:
    """The ``data`` of every record (one big page), newest first; checks totalCount against the list."""
    page = data_page(app, pageSize=2000, **params)
    assert page["totalCount"] == len(page["deviceDataHistoryDTOs"])
    return [record["data"] for record in page["deviceDataHistoryDTOs"]]


def desired_of(app: App, **params: Any) -> list[dict[str, Any]]:
    page = desired_page(app, pageSize=250, **params)
    assert page["totalCount"] == len(page["DeviceDesiredHistoryDTO"])
    return [record["desired"] for record in page["DeviceDesiredHistoryDTO"]]


# ---------------------------------------------------------------------------------------- §1.5.3 data history


def test_data_record_has_every_documented_key(app: App) -> None:
    device_id = app.register()["deviceId"]
    add_data(app, device_id, "Temperature", {"temp": 21.5, "unit": "C"}, BASE)
    page = data_page(app, deviceId=device_id)
    assert page == {
        "totalCount": 1,
        "pageNo": 0,
        "pageSize": 1,
        "deviceDataHistoryDTOs": [
            {
                "serviceId": "Temperature",
                "deviceId": device_id,
                "gatewayId": device_id,
                "appId": app.app_id,
                "data": {"temp": 21.5, "unit": "C"},
                "timestamp": "20240301T120000Z",
            }
        ],
    }


def test_data_defaults_one_record_newest_first(app: App) -> None:
    device_id = app.register()["deviceId"]
    for n in range(3):
        add_data(app, device_id, "S", {"n": n}, BASE + timedelta(minutes=n))
    page = data_page(app, deviceId=device_id)
    assert (page["totalCount"], page["pageNo"], page["pageSize"]) == (3, 0, 1)
    assert [r["data"] for r in page["deviceDataHistoryDTOs"]] == [{"n": 2}]
    assert page["deviceDataHistoryDTOs"][0]["timestamp"] == fmt(BASE + timedelta(minutes=2))
    assert data_of(app, deviceId=device_id) == [{"n": 2}, {"n": 1}, {"n": 0}]


def test_data_order_is_stable_within_one_millisecond(app: App) -> None:
    device_id = app.register()["deviceId"]
    add_data(app, device_id, "S", {"n": "later"}, ms(BASE) + 1)
    for n in range(4):
        add_data(app, device_id, "S", {"n": n}, BASE)  # same millisecond: newest row first
    assert data_of(app, deviceId=device_id) == [{"n": "later"}, {"n": 3}, {"n": 2}, {"n": 1}, {"n": 0}]


def test_data_paging_counts_everything_and_covers_each_record_once(app: App) -> None:
    device_id = app.register()["deviceId"]
    for n in range(7):
        add_data(app, device_id, "S", {"n": n}, BASE + timedelta(seconds=n))
    pages = [data_page(app, deviceId=device_id, pageNo=p, pageSize=3) for p in range(4)]
    assert [len(p["deviceDataHistoryDTOs"]) for p in pages] == [3, 3, 1, 0]
    assert all(p["totalCount"] == 7 for p in pages)
    assert [(p["pageNo"], p["pageSize"]) for p in pages] == [(p, 3) for p in range(4)]
    listed = [r["data"]["n"] for p in pages for r in p["deviceDataHistoryDTOs"]]
    assert listed == [6, 5, 4, 3, 2, 1, 0]
    far = data_page(app, deviceId=device_id, pageNo=2**63 - 1, pageSize=2000)  # past the end: empty
    assert (far["totalCount"], far["pageNo"], far["deviceDataHistoryDTOs"]) == (7, 2**63 - 1, [])


def test_data_of_a_quiet_device_is_an_empty_page(app: App) -> None:
    device_id = app.register()["deviceId"]
    assert data_page(app, deviceId=device_id) == {
        "totalCount": 0,
        "pageNo": 0,
        "pageSize": 1,
        "deviceDataHistoryDTOs": [],
    }


def test_data_filters_by_service_and_property(app: App) -> None:
    device_id = app.register()["deviceId"]
    add_data(app, device_id, "Temperature", {"temp": 20}, BASE)
    add_data(app, device_id, "Humidity", {"hum": 40}, BASE + timedelta(seconds=1))
    add_data(app, device_id, "Temperature", {"temp": 21, "hum": 41}, BASE + timedelta(seconds=2))
    add_data(app, device_id, "Temperature", {"state": None}, BASE + timedelta(seconds=3))
    add_data(app, device_id, "Weird", {'a"b.c': 1}, BASE + timedelta(seconds=4))

    assert data_of(app, deviceId=device_id, serviceId="Temperature") == [
        {"state": None},
        {"temp": 21, "hum": 41},
        {"temp": 20},
    ]
    assert data_of(app, deviceId=device_id, serviceId="Humidity") == [{"hum": 40}]
    assert data_of(app, deviceId=device_id, serviceId="Nothing") == []
    assert data_of(app, deviceId=device_id, property="hum") == [{"temp": 21, "hum": 41}, {"hum": 40}]
    assert data_of(app, deviceId=device_id, property="state") == [{"state": None}]  # present, even as null
    assert data_of(app, deviceId=device_id, property='a"b.c') == [{'a"b.c': 1}]  # a key, never a path
    assert data_of(app, deviceId=device_id, property="b") == []
    assert data_of(app, deviceId=device_id, property="'") == []
    assert data_of(app, deviceId=device_id, serviceId="Temperature", property="hum") == [{"temp": 21, "hum": 41}]
    assert data_of(app, deviceId=device_id, serviceId="Humidity", property="temp") == []


def test_data_time_window_start_inclusive_end_exclusive_to_the_millisecond(app: App) -> None:
    device_id = app.register()["deviceId"]
    start, end = BASE, BASE + timedelta(minutes=1)
    edges = {
        "before start": ms(start) - 1,
        "at start": ms(start),
        "inside": ms(start) + 999,
        "before end": ms(end) - 1,
        "at end": ms(end),
    }
    for label, at in edges.items():
        add_data(app, device_id, "S", {"at": label}, at)

    def found(**window: str) -> list[str]:
        return [d["at"] for d in data_of(app, deviceId=device_id, **window)]

    assert found(startTime=fmt(start), endTime=fmt(end)) == ["before end", "inside", "at start"]
    assert found(startTime=fmt(start)) == ["at end", "before end", "inside", "at start"]
    assert found(endTime=fmt(end)) == ["before end", "inside", "at start", "before start"]
    assert found(startTime=fmt(start + timedelta(seconds=1)), endTime=fmt(end)) == ["before end"]
    assert found(startTime=fmt(end), endTime=fmt(start)) == []
    assert found(startTime=fmt(end), endTime=fmt(end)) == []  # an empty window
    assert found() == ["at end", "before end", "inside", "at start", "before start"]


def test_gateway_id_alone_lists_the_gateway_and_its_children(app: App) -> None:
    gateway = app.register()["deviceId"]
    child = add_child(app, gateway)
    other = app.register()["deviceId"]
    add_data(app, gateway, "S", {"from": "gateway"}, BASE)
    add_data(app, child, "S", {"from": "child"}, BASE + timedelta(seconds=1))
    add_data(app, other, "S", {"from": "other"}, BASE + timedelta(seconds=2))

    page = data_page(app, gatewayId=gateway, pageSize=10)
    assert page["totalCount"] == 2
    assert [(r["deviceId"], r["gatewayId"]) for r in page["deviceDataHistoryDTOs"]] == [
        (child, gateway),
        (gateway, gateway),
    ]
    # deviceId alone: that device only; with its gateway too: the same; with a gateway it is not under: nothing.
    assert data_of(app, deviceId=child) == [{"from": "child"}]
    assert data_of(app, deviceId=child, gatewayId=gateway) == [{"from": "child"}]
    assert data_of(app, deviceId=gateway, gatewayId=gateway) == [{"from": "gateway"}]
    assert data_of(app, deviceId=child, gatewayId=other) == []
    assert data_of(app, gatewayId=child) == []  # a device that is no one's gateway


def test_device_id_or_gateway_id_is_required(app: App) -> None:
    assert_error(app.http.get(DATA), 400, "100419")
    assert_error(app.http.get(DATA, params={"pageNo": 0, "pageSize": 5, "serviceId": "S"}), 400, "100419")
    assert_error(app.http.get(f"{DATA}?deviceId=&gatewayId=&pageNo=0"), 400, "100419")  # empty = absent (G8)
    assert_error(app.http.get(DESIRED), 400, "100419")
    assert_error(app.http.get(DESIRED, params={"property": "p"}), 400, "100419")
    assert_error(app.http.get(f"{DESIRED}?deviceId=&gatewayId="), 400, "100419")


def test_data_invalid_paging_and_times_are_100216(app: App) -> None:
    device_id = app.register()["deviceId"]
    invalid: list[dict[str, Any]] = [
        {"pageSize": 0},
        {"pageSize": 2001},
        {"pageSize": "x"},
        {"pageSize": 1.5},
        {"pageNo": -1},
        {"pageNo": "x"},
        {"pageNo": 2**63},  # beyond a Long
    ]
    for bad in ("2024-01-01T00:00:00Z", "20240101T000000", "20241301T000000Z", "20240101T250000Z", "yesterday"):
        invalid += [{"startTime": bad}, {"endTime": bad}]
    for params in invalid:
        assert_error(app.http.get(DATA, params={"deviceId": device_id, **params}), 400, "100216")
    assert data_page(app, deviceId=device_id, pageSize=2000)["pageSize"] == 2000


def test_data_of_an_unknown_or_foreign_device_is_100418(make_app: Callable[..., App], app: App) -> None:
    mine = app.register()["deviceId"]
    other = make_app()
    foreign = other.register()["deviceId"]
    add_data(other, foreign, "S", {"secret": 1}, BASE)
    for params in (
        {"deviceId": "no-such-device"},
        {"gatewayId": "no-such-gateway"},
        {"deviceId": foreign},
        {"gatewayId": foreign},
        {"deviceId": mine, "gatewayId": foreign},
        {"deviceId": foreign, "gatewayId": mine},
    ):
        assert_error(app.http.get(DATA, params=params), 404, "100418")
    assert data_of(other, deviceId=foreign) == [{"secret": 1}]  # the owner still sees it


def test_data_of_a_deleted_device_is_100418(app: App) -> None:
    device_id = app.register()["deviceId"]
    add_data(app, device_id, "S", {"n": 1}, BASE)
    assert app.http.delete(f"{DEVICES}/{device_id}").status_code == 204
    assert_error(app.http.get(DATA, params={"deviceId": device_id}), 404, "100418")


def test_data_never_shows_another_apps_rows(make_app: Callable[..., App], app: App) -> None:
    other = make_app()
    gateway = app.register()["deviceId"]
    theirs = other.register()["deviceId"]
    add_data(app, gateway, "S", {"whose": "mine"}, BASE)
    add_data(other, theirs, "S", {"whose": "theirs"}, BASE)

    # Even a row of another app that names our gateway (which ingest never writes) stays theirs.
    def insert(conn: sa.Connection) -> None:
        row = {"device_id": theirs, "gateway_id": gateway, "app_id": other.app_id, "service_id": "S"}
        conn.execute(data_history.insert().values(**row, data={"whose": "stray"}, timestamp=ms(BASE)))

    app.node.write(insert)
    assert data_of(app, deviceId=gateway) == [{"whose": "mine"}]
    assert data_of(app, gatewayId=gateway) == [{"whose": "mine"}]
    assert data_of(other, deviceId=theirs) == [{"whose": "stray"}, {"whose": "theirs"}]


def test_data_of_an_authorized_apps_device(make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    device_id = owner.register()["deviceId"]
    add_data(owner, device_id, "S", {"n": 1}, BASE)
    on_behalf = {"deviceId": device_id, "appId": owner.app_id}
    assert_error(app.http.get(DATA, params=on_behalf), 403, "100217")
    assert_error(app.http.get(DATA, params={**on_behalf, "appId": "no-such-app"}), 403, "100203")
    with app.node.admin() as admin:
        r = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": app.app_id})
        assert r.status_code == 204, r.text
    page = data_page(app, **on_behalf)
    assert page["totalCount"] == 1
    assert page["deviceDataHistoryDTOs"][0]["appId"] == owner.app_id  # the app the device belongs to
    assert_error(app.http.get(DATA, params={"deviceId": device_id}), 404, "100418")  # not the caller's own
    assert data_page(owner, deviceId=device_id, appId=owner.app_id)["totalCount"] == 1  # own appId = omitted


# ------------------------------------------------------------------------------------- §1.5.4 desired history


def test_desired_record_has_every_documented_key(app: App) -> None:
    device_id = app.register()["deviceId"]
    before = datetime.now(UTC).replace(microsecond=0)
    set_desired(app, device_id, ("S", {"p": 1}))
    page = desired_page(app, deviceId=device_id)
    assert (page["totalCount"], page["pageNo"], page["pageSize"]) == (1, 0, 25)
    [record] = page["DeviceDesiredHistoryDTO"]
    assert {k: v for k, v in record.items() if k != "timestamp"} == {
        "serviceId": "S",
        "deviceId": device_id,
        "gatewayId": device_id,
        "appId": app.app_id,
        "desired": {"p": 1},
    }
    assert before <= parse(record["timestamp"]) <= datetime.now(UTC)


def test_desired_records_each_change_newest_first(app: App) -> None:
    device_id = app.register()["deviceId"]
    for n in range(3):
        set_desired(app, device_id, ("S", {"p": n}))
        time.sleep(0.003)
    assert desired_of(app, deviceId=device_id) == [{"p": 2}, {"p": 1}, {"p": 0}]
    # The shadow keeps the merged state; history keeps each change as it was sent.
    set_desired(app, device_id, ("S", {"q": True}))
    assert desired_of(app, deviceId=device_id)[0] == {"q": True}


def test_desired_default_page_size_is_25_and_order_is_stable(app: App) -> None:
    device_id = app.register()["deviceId"]
    services = [f"S{n:02}" for n in range(26)]
    set_desired(app, device_id, *[(s, {"p": 1}) for s in services])  # one change: one timestamp
    first = desired_page(app, deviceId=device_id)
    assert (first["totalCount"], first["pageNo"], first["pageSize"]) == (26, 0, 25)
    listed = [r["serviceId"] for r in first["DeviceDesiredHistoryDTO"]]
    second = desired_page(app, deviceId=device_id, pageNo=1)
    listed += [r["serviceId"] for r in second["DeviceDesiredHistoryDTO"]]
    assert listed == services[::-1]
    pages = [desired_page(app, deviceId=device_id, pageNo=p, pageSize=10) for p in range(4)]
    assert [len(p["DeviceDesiredHistoryDTO"]) for p in pages] == [10, 10, 6, 0]
    assert [r["serviceId"] for p in pages for r in p["DeviceDesiredHistoryDTO"]] == listed
    assert all(p["totalCount"] == 26 and p["pageSize"] == 10 for p in pages)


def test_desired_filters_by_service_and_property(app: App) -> None:
    device_id = app.register()["deviceId"]
    set_desired(app, device_id, ("Light", {"on": True}), ("Fan", {"speed": 2}))
    time.sleep(0.003)
    set_desired(app, device_id, ("Light", {"on": False, "level": 5}))
    time.sleep(0.003)
    set_desired(app, device_id, ("Light", {"level": None}))

    assert desired_of(app, deviceId=device_id, serviceId="Light") == [
        {"level": None},
        {"on": False, "level": 5},
        {"on": True},
    ]
    assert desired_of(app, deviceId=device_id, serviceId="Fan") == [{"speed": 2}]
    assert desired_of(app, deviceId=device_id, property="on") == [{"on": False, "level": 5}, {"on": True}]
    assert desired_of(app, deviceId=device_id, property="level") == [{"level": None}, {"on": False, "level": 5}]
    assert desired_of(app, deviceId=device_id, property="speed") == [{"speed": 2}]
    assert desired_of(app, deviceId=device_id, serviceId="Fan", property="on") == []
    assert desired_of(app, deviceId=device_id, property="nothing") == []


def test_desired_time_window(app: App) -> None:
    device_id = app.register()["deviceId"]
    set_desired(app, device_id, ("S", {"p": 1}))
    [record] = desired_page(app, deviceId=device_id)["DeviceDesiredHistoryDTO"]
    at = parse(record["timestamp"])  # the second of the change; the stored time is within it

    def found(**window: str) -> list[dict[str, Any]]:
        return desired_of(app, deviceId=device_id, **window)

    assert found(startTime=fmt(at)) == [{"p": 1}]  # inclusive
    assert found(endTime=fmt(at)) == []  # exclusive
    assert found(endTime=fmt(at + timedelta(seconds=1))) == [{"p": 1}]
    assert found(startTime=fmt(at + timedelta(seconds=1))) == []
    assert found(startTime=fmt(at - timedelta(hours=1)), endTime=fmt(at + timedelta(hours=1))) == [{"p": 1}]


def test_desired_gateway_id_alone_lists_the_gateway_and_its_children(app: App) -> None:
    gateway = app.register()["deviceId"]
    child = add_child(app, gateway)
    other = app.register()["deviceId"]
    set_desired(app, gateway, ("S", {"of": "gateway"}))
    time.sleep(0.003)
    set_desired(app, child, ("S", {"of": "child"}))
    set_desired(app, other, ("S", {"of": "other"}))
    page = desired_page(app, gatewayId=gateway)
    assert [(r["deviceId"], r["gatewayId"], r["desired"]) for r in page["DeviceDesiredHistoryDTO"]] == [
        (child, gateway, {"of": "child"}),
        (gateway, gateway, {"of": "gateway"}),
    ]
    assert desired_of(app, deviceId=child, gatewayId=gateway) == [{"of": "child"}]
    assert desired_of(app, deviceId=child, gatewayId=other) == []


def test_desired_invalid_paging_and_times_are_100216(app: App) -> None:
    device_id = app.register()["deviceId"]
    invalid: list[dict[str, Any]] = [
        {"pageSize": 0},
        {"pageSize": 251},
        {"pageSize": "x"},
        {"pageNo": -1},
        {"pageNo": "x"},
        {"pageNo": 2**63},
        {"startTime": "20240101T000000"},
        {"endTime": "2024-01-01T00:00:00Z"},
    ]
    for params in invalid:
        assert_error(app.http.get(DESIRED, params={"deviceId": device_id, **params}), 400, "100216")
    assert desired_page(app, deviceId=device_id, pageSize=250)["pageSize"] == 250
    assert desired_page(app, deviceId=device_id, pageSize=1)["pageSize"] == 1


def test_desired_of_an_unknown_or_foreign_device_is_100418(make_app: Callable[..., App], app: App) -> None:
    mine = app.register()["deviceId"]
    other = make_app()
    foreign = other.register()["deviceId"]
    set_desired(other, foreign, ("S", {"secret": 1}))
    set_desired(app, mine, ("S", {"mine": 1}))
    for params in (
        {"deviceId": "no-such-device"},
        {"gatewayId": "no-such-gateway"},
        {"deviceId": foreign},
        {"gatewayId": foreign},
        {"deviceId": mine, "gatewayId": foreign},
    ):
        assert_error(app.http.get(DESIRED, params=params), 404, "100418")
    assert desired_of(app, deviceId=mine) == [{"mine": 1}]
    assert desired_of(other, gatewayId=foreign) == [{"secret": 1}]


def test_desired_of_an_authorized_apps_device(make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    device_id = owner.register()["deviceId"]
    on_behalf = {"deviceId": device_id, "appId": owner.app_id}
    assert_error(app.http.get(DESIRED, params=on_behalf), 403, "100217")
    with app.node.admin() as admin:
        r = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": app.app_id})
        assert r.status_code == 204, r.text
    set_desired(app, device_id, ("S", {"p": 1}), appId=owner.app_id)  # changed by the authorized app
    [record] = desired_page(app, **on_behalf)["DeviceDesiredHistoryDTO"]
    assert (record["deviceId"], record["appId"], record["desired"]) == (device_id, owner.app_id, {"p": 1})
    assert desired_of(owner, deviceId=device_id) == [{"p": 1}]
    assert_error(app.http.get(DESIRED, params={"deviceId": device_id}), 404, "100418")
