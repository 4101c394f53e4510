"""§1.3 login and refreshToken, and the access rules every other call obeys (G4-G6, G8)."""

from __future__ import annotations

from collections.abc import Callable

from tests.harness import App, PlatformThread, assert_error

LOGIN = "/iocm/app/sec/v1.1.0/login"
REFRESH = "/iocm/app/sec/v1.1.0/refreshToken"
DEVICES = "/iocm/app/dm/v1.4.0/devices"


def test_login_form_answers_the_documented_token(app: App) -> None:
    r = app.http.post(LOGIN, data={"appId": app.app_id, "secret": app.secret})
    assert r.status_code == 200
    body = r.json()
    assert body["scope"] == "default"
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 3600
    assert body["accessToken"] and body["refreshToken"]


def test_login_accepts_json(app: App) -> None:
    r = app.http.post(LOGIN, json={"appId": app.app_id, "secret": app.secret})
    assert r.status_code == 200
    assert r.json()["tokenType"] == "Bearer"


def test_login_wrong_secret_or_unknown_app(app: App) -> None:
    assert_error(app.http.post(LOGIN, data={"appId": app.app_id, "secret": "wrong"}), 401, "100208")
    assert_error(app.http.post(LOGIN, data={"appId": "nobody", "secret": "x"}), 401, "100208")


def test_login_missing_fields(app: App) -> None:
    assert_error(app.http.post(LOGIN, data={"appId": app.app_id}), 400, "102202")
    assert_error(app.http.post(LOGIN, json={"appId": app.app_id, "secret": ""}), 400, "102202")
    assert_error(app.http.post(LOGIN, content=b""), 400, "102202")


def test_login_overlong_field_is_invalid(app: App) -> None:
    assert_error(app.http.post(LOGIN, data={"appId": app.app_id, "secret": "s" * 257}), 400, "50400")


def test_only_the_latest_access_token_is_valid(app: App) -> None:
    old = app.token
    app.login()
    r = app.http.get(DEVICES, params={"pageNo": 0}, headers={"Authorization": f"Bearer {old}"})
    assert_error(r, 403, "1010005")
    assert app.http.get(DEVICES, params={"pageNo": 0}).status_code == 200


def test_refresh_token_issues_a_new_pair_and_replaces_the_access_token(app: App) -> None:
    first = app.login()
    r = app.http.post(REFRESH, json={"appId": app.app_id, "secret": app.secret, "refreshToken": first["refreshToken"]})
    assert r.status_code == 200
    body = r.json()
    assert body["expiresIn"] == 3600 and body["tokenType"] == "Bearer" and body["scope"] == "default"
    assert_error(app.http.get(DEVICES, params={"pageNo": 0}), 403, "1010005")
    headers = {"Authorization": f"bearer {body['accessToken']}"}  # scheme in any case (G8)
    assert app.http.get(DEVICES, params={"pageNo": 0}, headers=headers).status_code == 200


def test_refresh_accepts_form(app: App) -> None:
    first = app.login()
    form = {"appId": app.app_id, "secret": app.secret, "refreshToken": first["refreshToken"]}
    assert app.http.post(REFRESH, data=form).status_code == 200


def test_refresh_errors(app: App) -> None:
    good = app.login()["refreshToken"]
    bad_token = {"appId": app.app_id, "secret": app.secret, "refreshToken": "not-a-token"}
    assert_error(app.http.post(REFRESH, json=bad_token), 400, "50400")
    wrong_secret = {"appId": app.app_id, "secret": "nope", "refreshToken": good}
    assert_error(app.http.post(REFRESH, json=wrong_secret), 401, "100208")
    assert_error(app.http.post(REFRESH, json={"appId": app.app_id, "secret": app.secret}), 400, "102202")


def test_refresh_token_of_another_app_is_refused(make_app: Callable[..., App], app: App) -> None:
    other = make_app()
    foreign = other.login()["refreshToken"]
    body = {"appId": app.app_id, "secret": app.secret, "refreshToken": foreign}
    assert_error(app.http.post(REFRESH, json=body), 400, "50400")


def test_missing_app_key(app: App) -> None:
    r = app.http.get(DEVICES, params={"pageNo": 0}, headers={"app_key": ""})
    assert_error(r, 401, "100025")


def test_bad_or_missing_token(app: App) -> None:
    assert_error(app.http.get(DEVICES, params={"pageNo": 0}, headers={"Authorization": "Bearer junk"}), 403, "1010005")
    assert_error(app.http.get(DEVICES, params={"pageNo": 0}, headers={"Authorization": ""}), 403, "1010005")
    assert_error(app.http.get(DEVICES, params={"pageNo": 0}, headers={"Authorization": "Basic abc"}), 403, "1010005")


def test_app_key_must_match_the_token(make_app: Callable[..., App], app: App) -> None:
    other = make_app()
    assert_error(app.http.get(DEVICES, params={"pageNo": 0}, headers={"app_key": other.app_id}), 403, "1010005")


def test_x_app_key_header_is_accepted(app: App) -> None:
    headers = {"Authorization": f"Bearer {app.token}", "x-app-key": app.app_id}
    with app.node.client() as bare:
        assert bare.get(DEVICES, params={"pageNo": 0}, headers=headers).status_code == 200


def test_flow_control_per_app(make_app: Callable[..., App]) -> None:
    limited = make_app(rate_limit=3)
    statuses = [limited.http.get(DEVICES, params={"pageNo": 0}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert_error(limited.http.get(DEVICES, params={"pageNo": 0}), 403, "1010009")
    unlimited = make_app(rate_limit=0)
    assert all(unlimited.http.get(DEVICES, params={"pageNo": 0}).status_code == 200 for _ in range(20))


def test_default_flow_control_is_the_server_setting(node: PlatformThread, make_app: Callable[..., App]) -> None:
    default = make_app(rate_limit=None)
    limit = node.settings.rate_limit
    codes = [default.http.get(DEVICES, params={"pageNo": 0}).status_code for _ in range(limit + 1)]
    assert codes[:limit] == [200] * limit
    assert_error(default.http.get(DEVICES, params={"pageNo": 0}), 403, "1010009")


def test_authorized_app_parameter(make_app: Callable[..., App], app: App) -> None:
    owner = make_app()
    device = owner.register()
    path = f"{DEVICES}/{device['deviceId']}"
    assert_error(app.http.get(path, params={"appId": owner.app_id}), 403, "100217")
    assert_error(app.http.get(path, params={"appId": "no-such-app"}), 403, "100203")
    assert_error(app.http.get(path), 404, "100403")  # without appId: only the caller's own devices
    with app.node.admin() as admin:
        r = admin.post(f"/admin/apps/{owner.app_id}/authorizations", json={"to": app.app_id})
        assert r.status_code == 204
    r = app.http.get(path, params={"appId": owner.app_id})
    assert r.status_code == 200
    assert r.json()["deviceId"] == device["deviceId"]
    assert owner.http.get(path, params={"appId": owner.app_id}).status_code == 200  # own appId = omitted
