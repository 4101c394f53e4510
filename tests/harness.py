"""Runs the real platform in a background thread on free ports, and talks to it like a client would."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from iotdm.platform import Platform
from iotdm.settings import Settings

T = TypeVar("T")

TEST_DATABASE_URL = os.environ.get("IOTDM_TEST_DATABASE_URL")


class PlatformThread:
    """One platform node on its own event loop thread; ``restart`` keeps its data dir and database."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.settings = Settings(
            data_dir=data_dir,
            database_url=TEST_DATABASE_URL,
            host="127.0.0.1",
            http_port=0,
            mqtt_port=0,
            tls=False,
            **overrides,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.platform: Platform | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run a store function on the node's database, on the node's own loop (as the platform does)."""
        assert self.platform is not None
        return self.run(self.platform.db.read(fn))

    def write(self, fn: Callable[[sa.Connection], T]) -> T:
        assert self.platform is not None
        return self.run(self.platform.db.write(fn))

    def start(self) -> None:
        self.platform = Platform(self.settings)
        self.run(self.platform.start())
        # A restart comes back on the same ports, so clients made before it keep working.
        self.settings.http_port = self.platform.http_port
        self.settings.mqtt_port = self.platform.mqtt_port

    def stop(self) -> None:
        if self.platform is not None:
            self.run(self.platform.stop())
            self.platform = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def base_url(self) -> str:
        assert self.platform is not None
        return f"http://127.0.0.1:{self.platform.http_port}"

    @property
    def admin_token(self) -> str:
        return (self.settings.data_dir / "admin.token").read_text().strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {self.admin_token}"})


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; answer whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def reset_database(url: str) -> None:
    """Empty the shared PostgreSQL test database so the suite starts from nothing."""

    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


class App:
    """An application as a test client sees it: its credentials and an authenticated httpx client."""

    def __init__(self, node: PlatformThread, app_id: str, secret: str) -> None:
        self.node = node
        self.app_id = app_id
        self.secret = secret
        self.http = node.client()
        self.token = ""
        self.login()

    def login(self) -> dict[str, Any]:
        r = self.http.post("/iocm/app/sec/v1.1.0/login", data={"appId": self.app_id, "secret": self.secret})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        self.token = body["accessToken"]
        self.http.headers.update({"app_key": self.app_id, "Authorization": f"Bearer {self.token}"})
        return body

    def register(self, node_id: str | None = None, **body: Any) -> dict[str, Any]:
        r = self.http.post(
            "/iocm/app/reg/v1.1.0/deviceCredentials",
            json={"nodeId": node_id or unique_node_id(), "deviceInfo": {"model": "M1"}, **body},
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def register_v2(self, node_id: str | None = None, **info: Any) -> dict[str, Any]:
        r = self.http.post(
            "/iocm/app/reg/v2.0.0/deviceCredentials",
            json={
                "deviceInfo": {"nodeId": node_id or unique_node_id(), "model": "M1", **info},
                "mqttConnect": True,
            },
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result


def unique_node_id() -> str:
    return f"node-{uuid.uuid4().hex}"


def new_app(node: PlatformThread, name: str = "test", rate_limit: int | None = 0) -> App:
    with node.admin() as admin:
        r = admin.post("/admin/apps", json={"name": name, "rateLimit": rate_limit})
        assert r.status_code == 201, r.text
        created = r.json()
    return App(node, created["appId"], created["secret"])


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["error_code"] == code, body
    assert isinstance(body["error_desc"], str) and body["error_desc"]
