"""What clients of the original platform send (DECISIONS G8, G3), and how the API answers the unexpected (G1)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.harness import App, PlatformThread, assert_error, unique_node_id

LOGIN = "/iocm/app/sec/v1.1.0/login"
REGISTER = "/iocm/app/reg/v1.1.0/deviceCredentials"
REGISTER_V2 = "/iocm/app/reg/v2.0.0/deviceCredentials"
CREDENTIALS = "/iocm/app/reg/v1.1.0/deviceCredentials"
DEVICES = "/iocm/app/dm/v1.4.0/devices"
SHADOW = "/iocm/app/shadow/v1.5.0/devices"
INTERNAL_ERROR = {"error_code": "100001", "error_desc": "Internal server error."}


def no_trace(response: httpx.Response) -> None:
    for marker in ("Traceback", 'File "', "Error:", ".py"):
        assert marker not in response.text, response.text


def raw_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def chunks(body: dict[str, Any]) -> Iterator[bytes]:
    """A body httpx can only send with ``Transfer-Encoding: chunked`` (its length is unknown up front)."""
    raw = raw_json(body)
    middle = len(raw) // 2
    yield raw[:middle]
    yield raw[middle:]


# Authorization scheme ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_bearer_in_any_case(app: App, scheme: str) -> None:
    r = app.http.get(DEVICES, params={"pageNo": 0}, headers={"Authorization": f"{scheme} {app.token}"})
    assert r.status_code == 200, r.text


# Trailing slash --------------------------------------------------------------------------------------------------


def test_trailing_slash_on_paths(app: App) -> None:
    r = app.http.post(f"{REGISTER}/", json={"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}})
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    r = app.http.get(f"{DEVICES}/{device_id}/")
    assert r.status_code == 200, r.text
    assert r.json()["deviceId"] == device_id
    assert app.http.get(f"{DEVICES}/", params={"pageNo": 0}).json()["totalCount"] == 1
    assert app.http.put(f"{DEVICES}/{device_id}/", json={"name": "slashed"}).status_code == 204
    assert app.http.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]["name"] == "slashed"


# Query strings ---------------------------------------------------------------------------------------------------


def test_empty_query_values_mean_absent(app: App) -> None:
    device_id = app.register()["deviceId"]
    plain = app.http.get(DEVICES, params={"pageNo": 0}).json()
    for query in (
        "pageNo=0&gatewayId=&nodeType=",
        "&pageNo=0",
        "pageNo=0&",
        "pageNo=0&&status=&sort=&select=&startTime=&endTime=&pageSize=&name=&location=&deviceType=&appId=",
    ):
        r = app.http.get(f"{DEVICES}?{query}")
        assert r.url.query.decode() == query  # sent as written
        assert r.status_code == 200, (query, r.text)
        assert r.json() == plain, query
    assert plain["totalCount"] == 1 and plain["pageSize"] == 25
    # Empty gatewayId and pageNo are both absent: the reference's "cannot be both null".
    assert_error(app.http.get(f"{DEVICES}?gatewayId=&pageNo="), 400, "100218")
    r = app.http.get(f"{DEVICES}/{device_id}?select=")
    assert r.status_code == 200, r.text
    assert r.json()["deviceId"] == device_id


# Request bodies ------------------------------------------------------------------------------------------------


def test_json_body_without_content_type(app: App) -> None:
    r = app.http.post(REGISTER, content=raw_json({"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}}))
    assert "content-type" not in r.request.headers
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    r = app.http.put(f"{DEVICES}/{device_id}", content=raw_json({"name": "untyped"}))
    assert "content-type" not in r.request.headers
    assert r.status_code == 204, r.text
    shadow = {"serviceDesireds": [{"serviceId": "S", "desired": {"p": 1}}]}
    assert app.http.put(f"{SHADOW}/{device_id}", content=raw_json(shadow)).status_code == 200
    assert app.http.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]["name"] == "untyped"
    login = app.http.post(LOGIN, content=raw_json({"appId": app.app_id, "secret": app.secret}))
    assert "content-type" not in login.request.headers
    assert login.status_code == 200, login.text


def test_json_with_charset(app: App) -> None:
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    body = {"nodeId": unique_node_id(), "deviceInfo": {"model": "M1", "name": "Küche"}}
    r = app.http.post(REGISTER, content=raw_json(body), headers=headers)
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    assert app.http.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]["name"] == "Küche"
    r = app.http.put(f"{DEVICES}/{device_id}", content=raw_json({"location": "Haus"}), headers=headers)
    assert r.status_code == 204, r.text
    login = app.http.post(LOGIN, content=raw_json({"appId": app.app_id, "secret": app.secret}), headers=headers)
    assert login.status_code == 200, login.text


def test_chunked_request_bodies(app: App) -> None:
    headers = {"Content-Type": "application/json"}
    r = app.http.post(
        REGISTER, content=chunks({"nodeId": unique_node_id(), "deviceInfo": {"model": "M1"}}), headers=headers
    )
    assert r.request.headers["transfer-encoding"] == "chunked" and "content-length" not in r.request.headers
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    r = app.http.put(f"{DEVICES}/{device_id}", content=chunks({"name": "chunked"}))  # and without Content-Type
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 204, r.text
    assert app.http.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]["name"] == "chunked"
    login = app.http.post(LOGIN, content=chunks({"appId": app.app_id, "secret": app.secret}))
    assert login.status_code == 200, login.text


def test_explicit_null_is_absent(node: PlatformThread, app: App) -> None:
    body = {
        "nodeId": unique_node_id(),
        "verifyCode": None,
        "timeout": None,
        "psk": None,
        "endUserId": None,
        "imsi": None,
        "isSecure": None,
        "productId": None,
        "deviceInfo": {"model": "M1", "nodeId": None, "name": None, "deviceType": None, "manufacturerId": None},
    }
    r = app.http.post(REGISTER, json=body)
    assert r.status_code == 200, r.text
    registered = r.json()
    assert registered["verifyCode"]  # generated, as when absent
    assert re.fullmatch(r"[0-9A-Fa-f]{32}", registered["psk"])
    assert registered["timeout"] == node.settings.registration_timeout
    device_id = registered["deviceId"]

    assert app.http.put(f"{DEVICES}/{device_id}", json={"name": "kept"}).status_code == 204
    r = app.http.put(f"{DEVICES}/{device_id}", json={"name": None, "location": "set", "mute": None, "tags": None})
    assert r.status_code == 204, r.text
    info = app.http.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]
    assert info["name"] == "kept" and info["location"] == "set" and info["mute"] == "FALSE"

    r = app.http.put(f"{CREDENTIALS}/{device_id}", json={"nodeId": None, "verifyCode": None, "timeout": None})
    assert r.status_code == 200, r.text
    assert r.json()["timeout"] == node.settings.registration_timeout

    v2 = {
        "deviceInfo": {"nodeId": unique_node_id(), "model": "M1", "name": None},
        "mqttConnect": True,
        "secret": None,
        "organization": None,
        "region": None,
        "timezone": None,
        "endUserId": None,
        "productId": None,
    }
    r = app.http.post(REGISTER_V2, json=v2)
    assert r.status_code == 200, r.text
    assert r.json()["secret"]  # generated, as when absent


def test_unknown_body_fields_are_ignored(app: App) -> None:
    body = {"nodeId": unique_node_id(), "deviceInfo": {"model": "M1", "colour": "red"}, "vendorExtension": {"a": 1}}
    r = app.http.post(REGISTER, json=body)
    assert r.status_code == 200, r.text
    device_id = r.json()["deviceId"]
    r = app.http.put(f"{DEVICES}/{device_id}", json={"name": "n", "nickname": "ignored"})
    assert r.status_code == 204, r.text
    desired = {"serviceDesireds": [{"serviceId": "S", "desired": {"p": 1}, "priority": 3}], "extra": True}
    assert app.http.put(f"{SHADOW}/{device_id}", json=desired).status_code == 200
    assert app.http.get(f"{DEVICES}/{device_id}").json()["deviceInfo"]["name"] == "n"
    login = app.http.post(LOGIN, json={"appId": app.app_id, "secret": app.secret, "grantType": "x"})
    assert login.status_code == 200, login.text


# The unexpected -------------------------------------------------------------------------------------------------


def test_unknown_paths_are_404(app: App) -> None:
    for method, path in (
        ("GET", "/nothing/here"),
        ("GET", "/iocm/app/dm/v9.9.9/devices"),
        ("POST", "/iocm/app/reg/v3.0.0/deviceCredentials"),
        ("GET", "/iocm/app/dm/v1.4.0/devices/a/b"),
    ):
        r = app.http.request(method, path, json={"x": 1})
        assert r.status_code == 404, (method, path, r.status_code)
        no_trace(r)


def test_unexpected_exception_is_a_bare_500(node: PlatformThread, app: App) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    assert node.platform is not None
    fastapi_app = node.platform.app
    fastapi_app.add_api_route("/boom", boom, methods=["GET"], include_in_schema=False)
    route = fastapi_app.router.routes[-1]
    assert isinstance(route, APIRoute) and route.path == "/boom"
    try:
        r = app.http.get("/boom")
        assert r.status_code == 500
        assert r.json() == INTERNAL_ERROR
        assert "secret internals" not in r.text
        no_trace(r)
        # Starlette re-raises after answering (so the server logs it); the server keeps serving.
        assert app.http.get("/health").status_code == 200
        assert app.http.get("/boom").json() == INTERNAL_ERROR
        with node.client() as fresh:
            assert fresh.get("/health").status_code == 200
        assert app.http.get(DEVICES, params={"pageNo": 0}).status_code == 200
    finally:
        fastapi_app.router.routes.remove(route)


# Documentation --------------------------------------------------------------------------------------------------

REFERENCE_PATHS = {
    "/iocm/app/sec/v1.1.0/login": {"post"},
    "/iocm/app/sec/v1.1.0/refreshToken": {"post"},
    "/iocm/app/reg/v1.1.0/deviceCredentials": {"post"},
    "/iocm/app/reg/v2.0.0/deviceCredentials": {"post"},
    "/iocm/app/reg/v1.1.0/deviceCredentials/{deviceId}": {"put", "get"},
    "/iocm/app/dm/v1.4.0/devices/{deviceId}": {"get", "put", "delete"},
    "/iocm/app/dm/v1.4.0/devices": {"get"},
    "/iocm/app/shadow/v1.5.0/devices/{deviceId}": {"get", "put"},
}


def test_openapi_describes_the_reference_paths(node: PlatformThread) -> None:
    with node.client() as anonymous:
        r = anonymous.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    for path, methods in REFERENCE_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    properties = spec["components"]["schemas"]["RegisterV1In"]["properties"]
    assert {"nodeId", "verifyCode", "psk", "timeout"} <= set(properties)
    assert {"deviceInfo", "imsi", "isSecure", "endUserId", "productId"} <= set(properties)


def test_docs_page(node: PlatformThread) -> None:
    with node.client() as anonymous:
        r = anonymous.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "openapi.json" in r.text
