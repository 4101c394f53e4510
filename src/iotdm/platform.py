"""Assembles the parts of one platform node and runs their lifecycle (start, health, graceful stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from iotdm.northbound.app import create_app
from iotdm.push.dispatcher import Dispatcher
from iotdm.push.http import HttpChannel
from iotdm.push.mqtt_channel import MqttChannel
from iotdm.scheduler import Scheduler
from iotdm.services.cluster import Cluster
from iotdm.services.container import Services
from iotdm.services.credentials import Keyring
from iotdm.services.registry import REGISTRATION_TIMER, expire_registration
from iotdm.settings import Settings
from iotdm.southbound.codecs import load_codecs
from iotdm.southbound.mqtt.listener import MqttListener
from iotdm.store.engine import Database
from iotdm.tls import ensure_self_signed

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the platform decides when every part stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def open_services(settings: Settings) -> tuple[Database, Services]:
    """The database (migrated) and the use cases on it: for the server and for operator commands alike."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    await db.migrate()
    keyring = (
        Keyring(settings.secret_key.encode())
        if settings.secret_key
        else Keyring.from_file(settings.data_dir / "secret.key")
    )
    return db, Services.build(db, settings, keyring)


def admin_token(data_dir: Path) -> str:
    """The operator API token, generated into the data dir on first use."""
    path = data_dir / "admin.token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.urls: list[str] = []
        self._db: Database | None = None
        self._server: _Server | None = None
        self._app: FastAPI | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._mqtt: MqttListener | None = None
        self.mqtt_port = 0
        self._push: Dispatcher | None = None
        self._cluster: Cluster | None = None
        self._push_http: HttpChannel | None = None

    @property
    def http_port(self) -> int:
        assert self._server is not None
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def app(self) -> FastAPI:
        """The running northbound application (tests reach into it)."""
        assert self._app is not None
        return self._app

    @property
    def db(self) -> Database:
        """The database of the running node (tests read the store through it)."""
        assert self._db is not None
        return self._db

    async def start(self) -> None:
        s = self.settings
        self._db, services = await open_services(s)
        app = self._app = create_app(services, admin_token(s.data_dir))
        cert, key = (s.cert, s.key) if s.cert and s.key else ensure_self_signed(s.data_dir) if s.tls else (None, None)
        config = uvicorn.Config(
            app,
            lifespan="off",
            access_log=False,
            log_level=s.log_level.lower(),
            server_header=False,
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
        self._server = _Server(config)
        sock = socket.create_server((s.host, s.http_port), family=_family(s.host), reuse_port=False)
        # Accepted connections inherit this; asyncio only sets it itself on sockets it made, and without it
        # every small response waits for the peer's delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._tasks.append(asyncio.create_task(self._server.serve(sockets=[sock])))
        while not self._server.started:
            if self._tasks[0].done():
                self._tasks[0].result()
            await asyncio.sleep(0.01)
        scheduler = Scheduler(self._db, {REGISTRATION_TIMER: expire_registration})
        self._tasks.append(asyncio.create_task(scheduler.run()))
        self._tasks.append(asyncio.create_task(services.reports.run()))
        self._mqtt = MqttListener(
            services.devices, services.app_access, codecs=load_codecs(), max_packet_size=s.mqtt_max_packet_size
        )
        services.devices.attach(self._mqtt)
        services.app_access.attach(self._mqtt)
        self._cluster = services.cluster
        self._cluster.on_lost(self._mqtt.close_all)
        await self._cluster.start()
        self._push_http = HttpChannel(verify_tls=s.push_verify_tls, connections=s.push_concurrency)
        self._push = Dispatcher(
            self._db,
            {"HTTP": self._push_http, "MQTT": MqttChannel(self._mqtt.push)},
            node_id=self._cluster.node_id,
            retry_period=s.push_retry_period,
            timeout=s.push_timeout,
            concurrency=s.push_concurrency,
            per_subscription=s.push_subscription_concurrency,
        )
        self._push.start()
        tls = _server_tls(cert, key) if cert and key else None
        self.mqtt_port = await self._mqtt.start(s.host, s.mqtt_port, tls)
        host = "localhost" if s.host in ("0.0.0.0", "::") else s.host
        self.urls = [
            f"{'https' if s.tls else 'http'}://{host}:{self.http_port}",
            f"{'mqtts' if s.tls else 'mqtt'}://{host}:{self.mqtt_port}",
        ]

    async def stop(self) -> None:
        # Devices first: no report is acknowledged once the writer stops.
        if self._mqtt is not None:
            await self._mqtt.stop()
            self._mqtt = None
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        # Before the database closes: deliveries under way finish or give their pushes back.
        if self._push is not None:
            await self._push.stop()
            self._push = None
        if self._push_http is not None:
            await self._push_http.close()
            self._push_http = None
        if self._cluster is not None:
            await self._cluster.stop()
            self._cluster = None
        if self._db is not None:
            await self._db.close()


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
