"""``iotdm device simulate`` against a running platform: devices register, connect and their reports are stored."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from tests.processes import IOTDM, Server, create_app


def test_simulated_devices_report_and_are_stored(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, "--no-tls")
    try:
        app = create_app(data_dir, "sim")
        saved = tmp_path / "fleet.json"
        mqtt = server.mqtt_url.removeprefix("mqtt://").replace("localhost", "127.0.0.1")
        run = subprocess.run(
            [
                *IOTDM,
                "device",
                "simulate",
                "--devices",
                "5",
                "--rate",
                "5",
                "--duration",
                "2",
                "--api",
                server.url,
                "--app-id",
                app["appId"],
                "--secret",
                app["secret"],
                "--mqtt",
                mqtt,
                "--no-tls",
                "--save-to",
                str(saved),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        match = re.search(r"done: (\d+) reports acknowledged, (\d+) failed", run.stdout)
        assert match is not None, run.stdout
        acked, failed = int(match[1]), int(match[2])
        assert acked >= 20 and failed == 0
        fleet = json.loads(saved.read_text())
        assert len(fleet) == 5

        with httpx.Client(base_url=server.url) as api:
            token = api.post("/iocm/app/sec/v1.1.0/login", data={"appId": app["appId"], "secret": app["secret"]})
            api.headers.update({"app_key": app["appId"], "Authorization": f"Bearer {token.json()['accessToken']}"})
            stored = sum(
                api.get("/iocm/app/data/v1.2.0/deviceDataHistory", params={"deviceId": d["deviceId"]}).json()[
                    "totalCount"
                ]
                for d in fleet
            )
        assert stored == acked

        again = subprocess.run(
            [
                *IOTDM,
                "device",
                "simulate",
                "--from-file",
                str(saved),
                "--devices",
                "2",
                "--rate",
                "2",
                "--duration",
                "1",
                "--mqtt",
                mqtt,
                "--no-tls",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "0 failed" in again.stdout
    finally:
        server.stop()


def test_simulate_needs_credentials_or_a_file() -> None:
    run = subprocess.run([*IOTDM, "device", "simulate"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
