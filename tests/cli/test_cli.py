"""The ``iotdm`` command as an operator uses it: ``serve`` in a subprocess, ``app`` commands beside it."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from tests.device.devices import credentials, data_topic
from tests.processes import IOTDM, Server, db_flags, iotdm


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir, "--no-tls")
    yield running
    running.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_https_with_a_generated_certificate_and_stops_cleanly(data_dir: Path, sig: int) -> None:
    running = Server(data_dir)
    try:
        assert running.url.startswith("https://")
        cert = data_dir / "tls.crt"
        assert cert.exists() and (data_dir / "tls.key").exists()
        url = running.url.replace("localhost", "127.0.0.1")
        assert httpx.get(f"{url}/health", verify=ssl.create_default_context(cafile=cert)).json() == {"status": "ok"}
    finally:
        assert running.stop(sig) == 0


def test_serve_with_a_given_certificate(data_dir: Path, tmp_path: Path) -> None:
    from iotdm.tls import ensure_self_signed

    cert, key = ensure_self_signed(tmp_path / "elsewhere")
    running = Server(data_dir, "--cert", str(cert), "--key", str(key))
    try:
        assert not (data_dir / "tls.crt").exists()
        assert httpx.get(f"{running.url}/health", verify=ssl.create_default_context(cafile=cert)).status_code == 200
    finally:
        running.stop()


def test_app_commands_beside_a_running_server(server: Server, data_dir: Path) -> None:
    created = iotdm("app", "create", "fleet", "--rate-limit", "5", "--json", data_dir=data_dir)
    assert created.returncode == 0, created.stderr
    app = json.loads(created.stdout)
    login = httpx.post(f"{server.url}/iocm/app/sec/v1.1.0/login", data={"appId": app["appId"], "secret": app["secret"]})
    assert login.status_code == 200

    other = json.loads(iotdm("app", "create", "partner", "--json", data_dir=data_dir).stdout)
    granted = iotdm("app", "authorize", app["appId"], "--to", other["appId"], data_dir=data_dir)
    assert granted.returncode == 0, granted.stderr

    listing = iotdm("app", "list", data_dir=data_dir)
    assert listing.returncode == 0
    assert app["appId"] in listing.stdout and other["appId"] in listing.stdout and "fleet" in listing.stdout
    assert app["secret"] not in listing.stdout


def test_app_create_without_a_server_prints_credentials(data_dir: Path) -> None:
    result = iotdm("app", "create", "offline", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "appId:" in result.stdout and "secret:" in result.stdout


def test_authorize_unknown_app_fails(data_dir: Path) -> None:
    result = iotdm("app", "authorize", "nope", "--to", "nobody", data_dir=data_dir)
    assert result.returncode == 1
    assert "100203" in result.stdout


def test_negative_rate_limit_is_refused(data_dir: Path) -> None:
    assert iotdm("app", "create", "x", "--rate-limit", "-1", data_dir=data_dir).returncode == 2


def test_environment_variables_configure_the_command(tmp_path: Path) -> None:
    env_dir = tmp_path / "from-env"
    env = {**os.environ, "IOTDM_DATA_DIR": str(env_dir)}
    result = subprocess.run(
        [*IOTDM, "app", "create", "envapp", *db_flags()], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (env_dir / "secret.key").exists()


def test_admin_api_needs_the_admin_token(server: Server, data_dir: Path) -> None:
    token = (data_dir / "admin.token").read_text().strip()
    assert httpx.get(f"{server.url}/admin/apps").json()["error_code"] == "1010005"
    assert httpx.get(f"{server.url}/admin/apps", headers={"Authorization": "Bearer wrong"}).status_code == 403
    created = httpx.post(
        f"{server.url}/admin/apps", json={"name": "viaapi"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201
    listed = httpx.get(f"{server.url}/admin/apps", headers={"Authorization": f"Bearer {token}"}).json()
    assert created.json()["appId"] in [a["appId"] for a in listed]


def test_devices_connect_over_mqtts_with_the_platform_certificate(data_dir: Path) -> None:
    running = Server(data_dir)
    try:
        assert running.mqtt_url.startswith("mqtts://")
        app = json.loads(iotdm("app", "create", "tls", "--rate-limit", "0", "--json", data_dir=data_dir).stdout)
        context = ssl.create_default_context(cafile=data_dir / "tls.crt")
        url = running.url.replace("localhost", "127.0.0.1")
        with httpx.Client(base_url=url, verify=context) as api:
            token = api.post("/iocm/app/sec/v1.1.0/login", data={"appId": app["appId"], "secret": app["secret"]})
            api.headers.update({"app_key": app["appId"], "Authorization": f"Bearer {token.json()['accessToken']}"})
            body = {"deviceInfo": {"nodeId": f"tls-{data_dir.name}-{os.getpid()}", "model": "M"}}
            device = api.post("/iocm/app/reg/v2.0.0/deviceCredentials", json=body).json()
            client_id, username, password = credentials(device["deviceId"], device["secret"])
            paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
            paho.username_pw_set(username, password)
            paho.tls_set_context(context)
            paho.connect("localhost", int(running.mqtt_url.rsplit(":", 1)[1]))
            paho.loop_start()
            try:
                report = {"msgType": "deviceReq", "data": [{"serviceId": "S", "serviceData": {"secure": True}}]}
                info = paho.publish(data_topic(device["deviceId"]), json.dumps(report), qos=1)
                info.wait_for_publish(10)
                assert info.is_published()
            finally:
                paho.disconnect()
                paho.loop_stop()
            state = api.get(f"/iocm/app/dm/v1.4.0/devices/{device['deviceId']}").json()
            assert state["services"][0]["data"] == {"secure": True}
    finally:
        running.stop()
