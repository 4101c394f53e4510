"""The ``iotdm`` command: ``serve`` runs the platform; ``app ...`` are operator commands.

Operator commands open the database directly, so they work whether or not the server is running.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import uvloop
from rich.console import Console
from rich.progress import Progress, TextColumn
from rich.table import Table

from iotdm import simulator
from iotdm.domain.errors import PlatformError
from iotdm.domain.profiles import KEY_FIELDS, ProfileError, profile_ref
from iotdm.platform import Platform, open_services
from iotdm.services.container import Services
from iotdm.settings import Settings
from iotdm.store.dead_letters import DeadLetterFilter

T = TypeVar("T")

cli = typer.Typer(help="iotdm: IoT device management platform.", no_args_is_help=True)
apps_cli = typer.Typer(help="Manage applications (NAs).", no_args_is_help=True)
cli.add_typer(apps_cli, name="app")
device_cli = typer.Typer(help="Devices.", no_args_is_help=True)
cli.add_typer(device_cli, name="device")
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
    # Everything made at start lives as long as the process, and the hot paths make few cycles: keep the
    # collector off those objects and let it run rarely (measured: full collections of ~100 ms every few seconds
    # under device load otherwise).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
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


@device_cli.command("simulate")
def device_simulate(
    devices: Annotated[int, typer.Option(min=1, help="How many devices to simulate.")] = 10,
    rate: Annotated[float, typer.Option(min=0.001, help="Reports per second per device.")] = 1.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds to report for.")] = 60.0,
    api: Annotated[str, typer.Option(help="Northbound URL, to register the devices.")] = "https://localhost:8743",
    app_id: Annotated[str | None, typer.Option(help="App that registers the devices.")] = None,
    secret: Annotated[str | None, typer.Option(help="That app's secret.")] = None,
    mqtt: Annotated[str, typer.Option(help="Device access HOST:PORT.")] = "localhost:8883",
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="MQTTS (default) or plain MQTT.")] = True,
    insecure: Annotated[bool, typer.Option(help="Accept the platform's self-signed certificate.")] = False,
    from_file: Annotated[Path | None, typer.Option(help="Devices to use instead of registering new ones.")] = None,
    save_to: Annotated[Path | None, typer.Option(help="Write the registered devices here, for --from-file.")] = None,
) -> None:
    """Simulated devices that connect over MQTT and report at a given rate, with a live progress display."""
    if from_file is None and not (app_id and secret):
        raise typer.BadParameter("give --app-id and --secret to register devices, or --from-file")
    host, _, port = mqtt.rpartition(":")
    context = ssl.create_default_context() if tls else None
    if context is not None and insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        if from_file is not None:
            fleet = simulator.load(from_file)[:devices]
        else:
            assert app_id is not None and secret is not None
            console.print(f"registering {devices} devices at {api} ...")
            fleet = runner.run(simulator.register(api, app_id, secret, devices, verify=not insecure))
        if save_to is not None:
            simulator.save(save_to, fleet)
        runner.run(_simulate(fleet, host, int(port), context, rate, duration))


async def _simulate(
    fleet: list[simulator.SimulatedDevice],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    rate: float,
    duration: float,
) -> None:
    counters = simulator.Counters()
    stop_at = time.monotonic() + duration
    runs = asyncio.gather(*(simulator.run_device(d, host, port, tls, rate, stop_at, counters) for d in fleet))
    with Progress(*Progress.get_default_columns(), TextColumn("{task.fields[status]}"), console=console) as bar:
        task = bar.add_task("reporting", total=duration, status="")
        while not runs.done():
            elapsed = time.monotonic() - counters.started
            status = (
                f"{counters.connected}/{len(fleet)} connected  sent {counters.sent}  acked {counters.acked}"
                f"  failed {counters.failed}  {counters.acked / max(elapsed, 1e-9):,.0f} acked/s"
            )
            bar.update(task, completed=min(elapsed, duration), status=status)
            await asyncio.sleep(0.25)
    await runs
    console.print(f"done: {counters.acked} reports acknowledged, {counters.failed} failed")


# Product models (DECISIONS D6, docs/profiles.md)

profiles_cli = typer.Typer(help="Manage product models (profiles, docs/profiles.md).", no_args_is_help=True)
cli.add_typer(profiles_cli, name="profile")


def _refuse(message: str) -> NoReturn:
    """Exit 1 with the message; markup off, since profile paths contain brackets."""
    console.print(f"error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@profiles_cli.command("import")
def profile_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A profile JSON file.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a profile; the one with the same five model fields is replaced. Apps concerned are notified."""
    try:
        document = json.loads(file.read_bytes())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        _refuse(f"{file} is not a JSON document: {exc}")
    settings = _settings(data_dir=data_dir, database_url=database_url)
    try:
        imported = _operate(settings, lambda svc: svc.profiles.import_(document))
    except ProfileError as exc:
        _refuse(str(exc))
    summary = imported.summary
    print(
        f"{'replaced' if imported.replaced else 'imported'} the profile {summary.key.describe()}"
        f" (productId {summary.product_id!r}; services: {', '.join(summary.service_ids) or 'none'})"
    )


@profiles_cli.command("list")
def profile_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the profiles as a JSON list.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List the imported profiles."""
    summaries = _operate(_settings(data_dir=data_dir, database_url=database_url), lambda svc: svc.profiles.list())
    if as_json:
        print(json.dumps([summary.json() for summary in summaries]))
        return
    table = Table(*(name for name, _ in KEY_FIELDS), "productId", "services")
    for summary in summaries:
        table.add_row(*summary.key.json().values(), summary.product_id or "", ", ".join(summary.service_ids))
    console.print(table)


@profiles_cli.command("delete")
def profile_delete(
    product_id: Annotated[str | None, typer.Option(help="The profile's productId.")] = None,
    manufacturer_id: Annotated[str | None, typer.Option()] = None,
    manufacturer_name: Annotated[str | None, typer.Option()] = None,
    device_type: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    protocol_type: Annotated[str | None, typer.Option()] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete the profile named by --product-id alone or by all five model options. Apps concerned are notified."""
    key_fields = {
        "manufacturer_id": manufacturer_id,
        "manufacturer_name": manufacturer_name,
        "device_type": device_type,
        "model": model,
        "protocol_type": protocol_type,
    }
    try:
        target = profile_ref(product_id, key_fields)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = _settings(data_dir=data_dir, database_url=database_url)
    deleted = _operate(settings, lambda svc: svc.profiles.delete(target))
    if deleted is None:
        _refuse("no such profile")
    print(f"deleted the profile {deleted.key.describe()}")


# Dead letters (DECISIONS S3)

push_cli = typer.Typer(help="Push notifications.", no_args_is_help=True)
cli.add_typer(push_cli, name="push")
dead_letters_cli = typer.Typer(
    help="Pushes given up on after the retry period: inspect, replay, purge.", no_args_is_help=True
)
push_cli.add_typer(dead_letters_cli, name="dead-letters")

AppFilter = Annotated[str | None, typer.Option("--app", help="Only the dead letters of this app.")]
SubscriptionFilter = Annotated[str | None, typer.Option("--subscription", help="Only those of this subscription.")]
TypeFilter = Annotated[str | None, typer.Option("--type", help="Only pushes of this notifyType.")]
DeadLetterIds = Annotated[list[int] | None, typer.Argument(metavar="ID", help="Dead letter ids.", show_default=False)]
EveryDeadLetter = Annotated[
    bool, typer.Option("--all", help="Every dead letter matching the filters (every one without filters).")
]


def _dead_letters(
    ids: list[int] | None, every: bool, app: str | None, subscription: str | None, notify_type: str | None
) -> DeadLetterFilter:
    """Ids, or --all narrowed by filters: an operation on many letters has to be asked for explicitly."""
    filtered = any(value is not None for value in (app, subscription, notify_type))
    if ids and (every or filtered):
        raise typer.BadParameter("give dead letter ids, or --all with filters, not both")
    if ids:
        return DeadLetterFilter(ids=tuple(ids))
    if not every:
        raise typer.BadParameter("give dead letter ids, or --all (narrowed by --app, --subscription, --type)")
    return DeadLetterFilter(app_id=app, subscription_id=subscription, notify_type=notify_type)


@dead_letters_cli.command("list")
def dead_letter_list(
    app: AppFilter = None,
    subscription: SubscriptionFilter = None,
    notify_type: TypeFilter = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as a JSON list, payloads included.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List dead letters, newest failure first."""
    f = DeadLetterFilter(app_id=app, subscription_id=subscription, notify_type=notify_type)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    found = _operate(settings, lambda svc: svc.dead_letters.list(f, offset, limit))
    if as_json:
        print(json.dumps([letter.json() for letter in found.letters]))
        return
    table = Table("id", "failed at", "appId", "subscriptionId", "notifyType", "deviceId", "attempts", "last error")
    for letter in found.letters:
        view = letter.json(payload=False)
        table.add_row(
            str(letter.id),
            view["failedAt"],
            letter.app_id,
            letter.subscription_id,
            letter.notify_type,
            letter.device_id or "",
            str(letter.attempts),
            letter.last_error or "",
        )
    console.print(table)
    console.print(f"{len(found.letters)} of {found.total} dead letters")


@dead_letters_cli.command("show")
def dead_letter_show(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print one dead letter as JSON, with its payload and last error."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    letter = _operate(settings, lambda svc: svc.dead_letters.get(dead_letter_id))
    if letter is None:
        _refuse(f"no dead letter {dead_letter_id}")
    print(json.dumps(letter.json(), indent=2, ensure_ascii=False))


@dead_letters_cli.command("replay")
def dead_letter_replay(
    ids: DeadLetterIds = None,
    every: EveryDeadLetter = False,
    app: AppFilter = None,
    subscription: SubscriptionFilter = None,
    notify_type: TypeFilter = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Queue dead letters again as fresh pushes of their subscriptions, and remove them. Exits 1 when a named
    one is missing or cannot be replayed because its subscription is gone."""
    f = _dead_letters(ids, every, app, subscription, notify_type)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    outcome = _operate(settings, lambda svc: svc.dead_letters.replay(f))
    print(f"replayed {len(outcome.replayed)} dead letters")
    if outcome.orphaned:
        listed = ", ".join(map(str, outcome.orphaned))
        console.print(f"kept {listed}: the subscription no longer exists (purge them instead)", style="yellow")
    if outcome.missing:
        console.print(f"no dead letter {', '.join(map(str, outcome.missing))}", style="red")
    if ids and (outcome.orphaned or outcome.missing):
        raise typer.Exit(1)


@dead_letters_cli.command("purge")
def dead_letter_purge(
    ids: DeadLetterIds = None,
    every: EveryDeadLetter = False,
    app: AppFilter = None,
    subscription: SubscriptionFilter = None,
    notify_type: TypeFilter = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete dead letters for good. Exits 1 when a named one is missing."""
    f = _dead_letters(ids, every, app, subscription, notify_type)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    deleted = _operate(settings, lambda svc: svc.dead_letters.purge(f))
    print(f"deleted {deleted} dead letters")
    if ids and deleted < len(set(ids)):
        _refuse(f"{len(set(ids)) - deleted} of the given ids named no dead letter")


def main() -> None:
    cli()
