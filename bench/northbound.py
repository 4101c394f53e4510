"""Benchmark of the northbound REST API: starts a real ``iotdm serve`` and drives it over HTTP/1.1.

Operations, each measured on its own at ``--concurrency`` clients (one keep-alive connection per client):

* ``health``    GET  /health: no authentication, no database; the ceiling of the HTTP stack, for reference
* ``login``     POST /iocm/app/sec/v1.1.0/login (form appId/secret)
* ``register``  POST /iocm/app/reg/v1.1.0/deviceCredentials, ``--devices`` devices with unique nodeIds
* ``get``       GET  /iocm/app/dm/v1.4.0/devices/{deviceId} for random registered devices
* ``page``      GET  /iocm/app/dm/v1.4.0/devices?pageNo=<random>&pageSize=25

For each it prints requests, errors (non-2xx or broken connections), requests/s, p50/p99 latency and the CPU
the server and this client used (percent of one core); then the server's RSS. ``--json`` prints the same
figures as one JSON document.

The load generator has its own minimal HTTP/1.1 client (an ``asyncio.Protocol`` on uvloop when installed):
the machine has two cores shared by server and client, httpx costs several times the CPU per request of
the server's own work, and no faster client (aiohttp) is a dependency of the project. It handles just what
uvicorn answers here: Content-Length bodies on keep-alive connections.

Run from the repository root: ``python bench/northbound.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from _common import default_iotdm, free_port, loop_name, machine_cpu_seconds, progress, run

LOGIN_PATH = "/iocm/app/sec/v1.1.0/login"
REGISTER_PATH = "/iocm/app/reg/v1.1.0/deviceCredentials"
DEVICES_PATH = "/iocm/app/dm/v1.4.0/devices"
PAGE_SIZE = 25

T = TypeVar("T")

# The targets of bench/README.md (2-core machine, SQLite, 32 clients).
TARGET_GET_RPS = 2000.0
TARGET_GET_P99_MS = 50.0
TARGET_REGISTER_RPS = 500.0

# More CPU than this used by other processes during a phase makes its figures untrustworthy.
OTHER_CPU_WARNING_PCT = 15.0

# Unactivated devices are deleted by the server this long after registration (its default
# --registration-timeout); GET device phases running past it would only measure 404s.
REGISTRATION_TIMEOUT_S = 180.0


# A minimal HTTP/1.1 keep-alive client


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; answers are parsed as bytes arrive."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Reply] | None = None
        self._status = 0
        self._body_length: int | None = None  # known once the head of the answer has arrived
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            reply = self._parse()
        except ValueError as exc:
            waiter.set_exception(ConnectionError(f"unparsable answer: {exc}"))
            self.close()
            return
        if reply is not None:
            waiter.set_result(reply)
            if self._closing:
                self.close()

    def _parse(self) -> Reply | None:
        if self._body_length is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = self._buffer[:end].decode("latin-1").split("\r\n")
            del self._buffer[: end + 4]
            self._status = int(lines[0].split(" ", 2)[1])
            length: int | None = 0 if self._status in (204, 304) else None
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    self._closing = True
                elif name == "transfer-encoding":
                    raise ValueError("chunked answers are not supported")
            if length is None:
                raise ValueError("answer without Content-Length")
            self._body_length = length
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[: self._body_length])
        del self._buffer[: self._body_length]
        self._body_length = None
        return Reply(self._status, body)

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._closing

    async def send(self, request: bytes) -> Reply:
        if self._transport is None or self._closing:
            raise ConnectionError("connection closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Reply] = loop.create_future()
        self._waiter = waiter
        # A bare timer rather than asyncio.wait_for: no extra task per request.
        timer = loop.call_later(self._timeout, self._expire, waiter)
        self._transport.write(request)
        try:
            return await waiter
        finally:
            timer.cancel()

    def _expire(self, waiter: asyncio.Future[Reply]) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError(f"no answer within {self._timeout:.0f} s"))
            self.close()  # a late answer must not be taken for the next request's

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    timeout: float = 60.0  # per request

    async def connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Connection(self.timeout), self.host, self.port)
        return conn

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
        """The bytes of one request (built by the workers, so kept to string joins)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# Measuring one operation


@dataclass
class PhaseResult:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0  # every process on the machine, these two included
    error_kinds: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)

    @property
    def other_cpu_s(self) -> float:
        """CPU used by other processes: load that competes with the server for the two cores."""
        return max(0.0, self.machine_cpu_s - self.server_cpu_s - self.client_cpu_s)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile of the latencies of every request, failed ones included."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def record_error(self, kind: str, detail: str) -> None:
        self.errors += 1
        self.error_kinds[kind] += 1
        self.error_samples.setdefault(kind, detail[:300])

    def summary(self) -> dict[str, Any]:
        return {
            "operation": self.name,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.rps, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "server_cpu_pct": round(100 * self.server_cpu_s / self.seconds, 1) if self.seconds else 0.0,
            "client_cpu_pct": round(100 * self.client_cpu_s / self.seconds, 1) if self.seconds else 0.0,
            "other_cpu_pct": round(100 * self.other_cpu_s / self.seconds, 1) if self.seconds else 0.0,
            "errors_by_kind": dict(self.error_kinds),
            "error_samples": self.error_samples,
        }


MakeRequest = Callable[[int], bytes]
OnSuccess = Callable[[int, Reply], None]


@dataclass
class Budget:
    """Hands out request numbers until ``count`` requests were issued or ``deadline`` passed."""

    count: int | None
    deadline: float | None
    issued: int = 0

    def take(self) -> int | None:
        if self.count is not None and self.issued >= self.count:
            return None
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return None
        self.issued += 1
        return self.issued - 1


async def run_phase(
    name: str,
    target: Target,
    concurrency: int,
    make_request: MakeRequest,
    *,
    count: int | None = None,
    duration: float | None = None,
    on_success: OnSuccess | None = None,
    server: ServerProcess | None = None,
) -> PhaseResult:
    """Run one operation with ``concurrency`` workers, each on its own keep-alive connection."""
    result = PhaseResult(name)
    budget = Budget(count, deadline=None)
    # Connections are opened before the clock starts: their set-up is not what is measured.
    conns = await asyncio.gather(*(target.connect() for _ in range(concurrency)))

    async def worker(conn: _Connection) -> None:
        while (number := budget.take()) is not None:
            request = make_request(number)
            started = time.perf_counter()
            try:
                if not conn.is_open:
                    conn = await target.connect()
                reply = await conn.send(request)
            except OSError as exc:  # refused, reset, timed out
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.requests += 1
                result.record_error(type(exc).__name__, str(exc))
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.requests += 1
            if 200 <= reply.status < 300:
                if on_success is not None:
                    on_success(number, reply)
            else:
                result.record_error(f"HTTP {reply.status}", reply.body.decode(errors="replace"))
        conn.close()

    server_cpu = server.cpu_seconds() if server else 0.0
    client_cpu = time.process_time()
    machine_cpu = machine_cpu_seconds()
    started = time.perf_counter()
    budget.deadline = started + duration if duration is not None else None
    await asyncio.gather(*(worker(conn) for conn in conns))
    result.seconds = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - client_cpu
    result.server_cpu_s = (server.cpu_seconds() - server_cpu) if server else 0.0
    result.machine_cpu_s = machine_cpu_seconds() - machine_cpu
    return result


# The server under test


class ServerProcess:
    """``iotdm serve`` as a child process in its own session (Ctrl-C reaches only the benchmark)."""

    def __init__(self, iotdm: str, data_dir: Path, host: str, port: int, database_url: str | None) -> None:
        self.iotdm = iotdm
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.database_url = database_url
        self.log_path = data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _common_flags(self) -> list[str]:
        flags = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            flags += ["--database-url", self.database_url]
        return flags

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        command = [self.iotdm, "serve", "--no-tls", "--host", self.host, "--http-port", str(self.port)]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command + self._common_flags(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_healthy(self, target: Target, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        request = target.request("GET", "/health")
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited with {self._process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                conn = await target.connect()
                try:
                    if (await asyncio.wait_for(conn.send(request), 5)).status == 200:
                        return
                finally:
                    conn.close()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def create_app(self) -> tuple[str, str]:
        command = [self.iotdm, "app", "create", "bench", "--rate-limit", "0", "--json", *self._common_flags()]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"iotdm app create failed:\n{done.stdout}{done.stderr}")
        created = json.loads(done.stdout.strip().splitlines()[-1])
        return created["appId"], created["secret"]

    def _proc(self, name: str) -> str:
        return Path(f"/proc/{self.pid}/{name}").read_text()

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (all its threads) so far."""
        fields = self._proc("stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self) -> tuple[float, float]:
        """Current and peak resident set size."""
        values = dict(line.split(":", 1) for line in self._proc("status").splitlines() if ":" in line)
        return int(values["VmRSS"].split()[0]) / 1024, int(values["VmHWM"].split()[0]) / 1024

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Profiler:
    """Optional py-spy recording of the server during each measured phase (``--profile-dir``)."""

    def __init__(self, directory: Path | None, fmt: str, pid: int) -> None:
        self.directory = directory
        self.fmt = fmt
        self.pid = pid
        self.written: list[Path] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.directory is None:
            yield
            return
        exe = shutil.which("py-spy")
        if exe is None:
            raise SystemExit("--profile-dir needs py-spy: pip install py-spy")
        suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[self.fmt]
        out = self.directory / f"{name}.{suffix}"
        # Blocking sampling (py-spy's default) pauses the server briefly per sample but, unlike --nonblocking,
        # never records torn stacks; --threads tells the event loop from aiosqlite's worker thread.
        command = [exe, "record", "--pid", str(self.pid), "--rate", "200", "--threads"]
        command += ["--format", self.fmt, "-o", str(out)]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # py-spy attaches before the phase starts
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            _, err = spy.communicate(timeout=60)
            if out.exists():
                self.written.append(out)
            else:
                print(f"py-spy wrote nothing for {name}: {err.decode(errors='replace')[-500:]}", file=sys.stderr)


# The benchmark


@dataclass(frozen=True)
class Options:
    concurrency: int
    devices: int
    requests: int | None
    duration: float
    warmup: float
    database_url: str | None
    data_dir: Path | None
    as_json: bool
    check: bool
    profile_dir: Path | None
    profile_format: str
    seed: int
    iotdm: str | None


async def benchmark(opts: Options, data_dir: Path) -> dict[str, Any]:
    host = "127.0.0.1"
    target = Target(host, free_port(host))
    server = ServerProcess(opts.iotdm or default_iotdm(), data_dir, host, target.port, opts.database_url)
    rng = random.Random(opts.seed)
    results: list[PhaseResult] = []
    try:
        server.start()
        await server.wait_healthy(target)
        progress(f"server pid {server.pid} on http://{host}:{target.port}, data in {data_dir}")
        app_id, secret = server.create_app()
        profiler = Profiler(opts.profile_dir, opts.profile_format, server.pid)
        sized = {"count": opts.requests} if opts.requests else {"duration": opts.duration}

        async def measure(name: str, make: MakeRequest, warm: bool = True, **kwargs: Any) -> PhaseResult:
            if warm and opts.warmup > 0:
                # Discarded: first calls pay for lazy imports, caches and SQLite's page cache.
                await run_phase(f"{name}-warmup", target, opts.concurrency, make, duration=opts.warmup)
            progress(f"measuring {name} ...")
            with profiler.phase(name):
                result = await run_phase(name, target, opts.concurrency, make, server=server, **kwargs)
            progress(f"  {result.requests} requests, {result.errors} errors, {result.rps:,.0f}/s")
            results.append(result)
            return result

        # A reference row: the HTTP stack alone (no authentication, no database), the ceiling for the others.
        health_request = target.request("GET", "/health")
        await measure("health", lambda _: health_request, **sized)

        form = {"Content-Type": "application/x-www-form-urlencoded"}
        login_request = target.request(
            "POST", LOGIN_PATH, form, urlencode({"appId": app_id, "secret": secret}).encode()
        )
        await measure("login", lambda _: login_request, **sized)

        # Every login replaced the previous accessToken: the one issued now is the one that stays valid.
        conn = await target.connect()
        reply = await conn.send(login_request)
        conn.close()
        if reply.status != 200:
            raise RuntimeError(f"login failed: {reply.status} {reply.body!r}")
        token = json.loads(reply.body)["accessToken"]
        auth = {"app_key": app_id, "Authorization": f"Bearer {token}"}
        auth_json = {**auth, "Content-Type": "application/json"}

        run_id = uuid.uuid4().hex[:8]  # nodeIds stay unique across runs on one PostgreSQL database
        device_ids: list[str] = []

        def register(number: int) -> bytes:
            body = {"nodeId": f"bench-{run_id}-{number}", "deviceInfo": {"model": "M1"}}
            return target.request("POST", REGISTER_PATH, auth_json, json.dumps(body).encode())

        def registered(_number: int, reply: Reply) -> None:
            device_ids.append(json.loads(reply.body)["deviceId"])

        # No warm-up: it would register devices beyond --devices.
        await measure("register", register, warm=False, count=opts.devices, on_success=registered)
        if not device_ids:
            raise RuntimeError("no device was registered; nothing to query")

        def get_device(_number: int) -> bytes:
            return target.request("GET", f"{DEVICES_PATH}/{rng.choice(device_ids)}", auth)

        pages = math.ceil(len(device_ids) / PAGE_SIZE)

        def get_page(_number: int) -> bytes:
            return target.request("GET", f"{DEVICES_PATH}?pageNo={rng.randrange(pages)}&pageSize={PAGE_SIZE}", auth)

        await measure("get", get_device, **sized)
        await measure("page", get_page, **sized)

        rss, peak = server.memory_mib()
        return report(opts, results, server.pid, rss, peak, len(device_ids), profiler.written)
    finally:
        server.stop()


def report(
    opts: Options,
    results: list[PhaseResult],
    pid: int,
    rss_mib: float,
    peak_rss_mib: float,
    devices: int,
    profiles: list[Path],
) -> dict[str, Any]:
    by_name = {r.name: r for r in results}
    get, register = by_name["get"], by_name["register"]
    targets = [
        {"target": f"get >= {TARGET_GET_RPS:,.0f} req/s", "value": round(get.rps, 1), "met": get.rps >= TARGET_GET_RPS},
        {
            "target": f"get p99 <= {TARGET_GET_P99_MS:.0f} ms",
            "value": round(get.percentile_ms(99), 2),
            "met": get.percentile_ms(99) <= TARGET_GET_P99_MS,
        },
        {
            "target": f"register >= {TARGET_REGISTER_RPS:,.0f} devices/s",
            "value": round(register.rps, 1),
            "met": register.rps >= TARGET_REGISTER_RPS and register.errors == 0,
        },
    ]
    return {
        "config": {
            "concurrency": opts.concurrency,
            "devices": opts.devices,
            "registered": devices,
            "requests_per_operation": opts.requests,
            "duration_s": None if opts.requests else opts.duration,
            "warmup_s": opts.warmup,
            "database": "postgresql" if opts.database_url and "postgres" in opts.database_url else "sqlite",
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "client_loop": loop_name(),
        },
        "operations": [r.summary() for r in results],
        "server": {"pid": pid, "rss_mib": round(rss_mib, 1), "peak_rss_mib": round(peak_rss_mib, 1)},
        "targets": targets,
        "profiles": [str(p) for p in profiles],
    }


def render_table(doc: dict[str, Any]) -> str:
    cfg = doc["config"]
    size = f"{cfg['requests_per_operation']} requests" if cfg["requests_per_operation"] else f"{cfg['duration_s']} s"
    header = (
        f"{'operation':<10} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU':>11} {'client CPU':>11} {'other CPU':>10}"
    )
    lines = [
        f"iotdm northbound benchmark: {cfg['database']}, {cfg['concurrency']} clients, {cfg['registered']} devices, "
        f"{size} per operation, {cfg['cpus']} CPUs, Python {cfg['python']}, client loop {cfg['client_loop']}",
        "",
        header,
        "-" * len(header),
    ]
    for op in doc["operations"]:
        cpu = f"{op['server_cpu_pct']:>10.0f}% {op['client_cpu_pct']:>10.0f}% {op['other_cpu_pct']:>9.0f}%"
        lines.append(
            f"{op['operation']:<10} {op['requests']:>9,} {op['errors']:>7,} {op['requests_per_s']:>9,.0f} "
            f"{op['p50_ms']:>8.1f} {op['p99_ms']:>8.1f} {cpu}"
        )
    lines.append("(CPU: percent of one core; other = every other process on the machine)")
    busy = [op["operation"] for op in doc["operations"] if op["other_cpu_pct"] > OTHER_CPU_WARNING_PCT]
    if busy:
        lines.append(f"WARNING: other processes used the CPU during {', '.join(busy)}: those figures are too low")
    srv = doc["server"]
    lines += ["", f"server RSS at end: {srv['rss_mib']:.1f} MiB (peak {srv['peak_rss_mib']:.1f} MiB)", ""]
    lines += [f"[{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['value']:,}" for t in doc["targets"]]
    for op in doc["operations"]:
        for kind, sample in op["error_samples"].items():
            lines.append(f"{op['operation']}: {op['errors_by_kind'][kind]} x {kind}, e.g. {sample}")
    if doc["profiles"]:
        lines += [
            "",
            "profiles: " + ", ".join(doc["profiles"]),
            "(py-spy pauses the server to sample it and its own CPU counts as other: a profiled run is slower)",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (connections); default 32")
    parser.add_argument("--devices", type=int, default=2000, help="devices to register; default 2000")
    parser.add_argument("--requests", type=int, help="requests per login/get/page phase instead of --duration")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per login/get/page phase; default 10")
    parser.add_argument("--warmup", type=float, default=1.0, help="discarded seconds before each phase; default 1")
    parser.add_argument("--database-url", help="passed to the server; default SQLite in the data dir")
    parser.add_argument("--data-dir", type=Path, help="server data dir (must be new or empty); default a temp dir")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target of bench/README.md is missed")
    parser.add_argument("--profile-dir", type=Path, help="record the server with py-spy during each phase")
    parser.add_argument("--profile-format", choices=("flamegraph", "speedscope", "raw"), default="flamegraph")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random device and page choices")
    parser.add_argument("--iotdm", help="the iotdm executable to run (another build); default the installed one")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.devices < 1 or (args.requests is not None and args.requests < 1):
        parser.error("--concurrency, --devices and --requests must be at least 1")
    opts = Options(**vars(args))
    if not opts.requests and 2 * (opts.duration + opts.warmup) > REGISTRATION_TIMEOUT_S - 20:
        progress("warning: devices expire 180 s after registration; later GET device calls will answer 404")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGTERM ends the benchmark like Ctrl-C does, through the finally blocks that stop the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if opts.profile_dir is not None:
        opts.profile_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        data_dir = opts.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="iotdm-bench-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            doc = run(benchmark(opts, data_dir))
        except KeyboardInterrupt:
            progress("interrupted")
            return 130
        except RuntimeError as exc:
            progress(f"benchmark failed: {exc}")
            return 1
    print(json.dumps(doc, indent=2) if opts.as_json else render_table(doc))
    return 1 if opts.check and not all(t["met"] for t in doc["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
