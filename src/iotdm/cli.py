"""The ``iotdm`` command: ``serve`` runs the platform; ``app ...`` are operator commands.

Operator commands open the database directly, so they work whether or not the server is running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvloop
from rich.console import Console
from rich.table import Table

from iotdm.domain.errors import PlatformError
from iotdm.platform import Platform, open_services
from iotdm.services.container import Services
from iotdm.settings import Settings

T = TypeVar("T")

cli = typer.Typer(help="iotdm: IoT device management platform.", no_args_is_help=True)
apps_cli = typer.Typer(help="Manage applications (NAs).", no_args_is_help=True)
cli.add_typer(apps_cli, name="app")
console = Console()

DataDir = Annotated[Path | None, typer.Option(help="Data directory [env IOTDM_DATA_DIR; default ./iotdm-data].")]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="Database URL [env IOTDM_DATABASE_URL; default SQLite in the data dir].")
]


def _settings(**flags: Any) -> Settings:
    """Settings from IOTDM_* variables, overridden by the flags that were given."""
    return Settings(**{name: value for name, value in flags.items() if value is not None})


def _operate(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        db, services = await open_services(settings)
        try:
            return await action(services)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except PlatformError as exc:
        console.print(f"[red]error {exc.error.spec.code}: {exc.error.spec.text}[/red]")
        raise typer.Exit(1) from exc


@cli.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Annotated[str | None, typer.Option(help="Bind address [env IOTDM_HOST; default 0.0.0.0].")] = None,
    http_port: Annotated[int | None, typer.Option(help="Northbound port [env IOTDM_HTTP_PORT; default 8743].")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="Device MQTT port [env IOTDM_MQTT_PORT; default 8883].")] = None,
    tls: Annotated[
        bool | None, typer.Option("--tls/--no-tls", help="HTTPS (default) or plain HTTP [env IOTDM_TLS].")
    ] = None,
    cert: Annotated[Path | None, typer.Option(help="PEM certificate [env IOTDM_CERT].")] = None,
    key: Annotated[Path | None, typer.Option(help="PEM private key [env IOTDM_KEY].")] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option(help="Default calls/minute per app, 0 = off [env IOTDM_RATE_LIMIT; default 100]."),
    ] = None,
) -> None:
    """Run the platform until SIGINT or SIGTERM."""
    settings = _settings(
        data_dir=data_dir,
        database_url=database_url,
        host=host,
        http_port=http_port,
        mqtt_port=mqtt_port,
        tls=tls,
        cert=cert,
        key=key,
        rate_limit=rate_limit,
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvloop (installed with uvicorn[standard]) makes the one event loop that carries every part markedly faster.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    platform = Platform(settings)
    await platform.start()
    for url in platform.urls:
        print(f"{'device access' if url.startswith('mqtt') else 'northbound API'} listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping", flush=True)
    await platform.stop()


@apps_cli.command("create")
def app_create(
    name: str,
    rate_limit: Annotated[int | None, typer.Option(help="Calls per minute, 0 = unlimited; default: server's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {appId, secret} as JSON.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an application and print its appId and secret (the secret is shown only now)."""
    if rate_limit is not None and rate_limit < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--rate-limit")
    settings = _settings(data_dir=data_dir, database_url=database_url)
    app = _operate(settings, lambda svc: svc.apps.create(name, rate_limit))
    if as_json:
        print(json.dumps({"appId": app.app_id, "secret": app.secret}))
    else:
        print(f"appId:  {app.app_id}\nsecret: {app.secret}")


@apps_cli.command("list")
def app_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List applications."""
    apps = _operate(_settings(data_dir=data_dir, database_url=database_url), lambda svc: svc.apps.list())
    table = Table("appId", "name", "rate limit", "authorized apps")
    for app in apps:
        limit = "default" if app.rate_limit is None else str(app.rate_limit)
        table.add_row(app.app_id, app.name, limit, ", ".join(app.authorized_apps))
    console.print(table)


@apps_cli.command("authorize")
def app_authorize(
    app: Annotated[str, typer.Argument(help="The app whose devices are shared.")],
    to: Annotated[str, typer.Option("--to", help="The app that may act on them.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Let another app act on APP's devices through the appId parameter."""
    _operate(_settings(data_dir=data_dir, database_url=database_url), lambda svc: svc.apps.authorize(app, to))
    print(f"{to} may now act on the devices of {app}")


def main() -> None:
    cli()
