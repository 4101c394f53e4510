"""``iotdm`` as a separate process, the way operators and CI run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.harness import TEST_DATABASE_URL

IOTDM = [sys.executable, "-m", "iotdm"]


def db_flags(url: str | None = TEST_DATABASE_URL) -> list[str]:
    return ["--database-url", url] if url else []


def iotdm(*args: str, data_dir: Path, database_url: str | None = TEST_DATABASE_URL) -> subprocess.CompletedProcess[str]:
    """An operator command on ``data_dir`` (and the test database, or ``database_url``); its output as text."""
    # Wide enough that rich never folds a table cell the assertions look for.
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run(
        [*IOTDM, *args, "--data-dir", str(data_dir), *db_flags(database_url)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def create_app(data_dir: Path, name: str, database_url: str | None = TEST_DATABASE_URL) -> dict[str, str]:
    """An app made by the operator command, without flow control: ``appId`` and ``secret``."""
    created = iotdm("app", "create", name, "--rate-limit", "0", "--json", data_dir=data_dir, database_url=database_url)
    assert created.returncode == 0, created.stderr
    app: dict[str, str] = json.loads(created.stdout)
    return app


class Server:
    def __init__(self, data_dir: Path, *flags: str, database_url: str | None = TEST_DATABASE_URL, **env: str) -> None:
        """``iotdm serve`` on ``data_dir`` with ``flags``; ``env``: further IOTDM_* variables."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "serve.log"
        args = [
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--mqtt-port",
            "0",
            *flags,
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*IOTDM, *args, *db_flags(database_url)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "listening on" in line, line + self.log.read_text()
        self.url = line.split()[-1]
        mqtt_line = self.process.stdout.readline()
        assert "listening on mqtt" in mqtt_line, mqtt_line
        self.mqtt_url = mqtt_line.split()[-1]

    @contextmanager
    def api(self, app: dict[str, str]) -> Iterator[httpx.Client]:
        """An HTTP client of the server, logged in as ``app`` (as ``create_app`` answers it)."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            token = client.post("/iocm/app/sec/v1.1.0/login", data={"appId": app["appId"], "secret": app["secret"]})
            client.headers.update({"app_key": app["appId"], "Authorization": f"Bearer {token.json()['accessToken']}"})
            yield client

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.communicate(timeout=20)
        return self.process.returncode
