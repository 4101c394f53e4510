"""Benchmark of push notifications: devices report over MQTT, iotdm pushes each report to a local HTTP receiver.

For each count of subscriptions in ``--subscriptions`` (default 1, 10 and 100): that many apps, each subscribed to
``deviceDatasChanged`` with its own callback URL on one receiver, and ``--devices`` devices spread over them, each
on its own MQTT connection. Every report is one push (one subscription per app, one app per device), so what the
receiver gets is what the dispatcher delivered. Three measurements per count:

* ``saturated``: reports go out as fast as pushes come back, at most ``--backlog`` reports not yet pushed (sent by a
  device but not received by the receiver): the pushes per second the platform sustains while it ingests.
* ``paced``: reports at a fixed rate (``--paced-rate``, at most 80 % of the saturated rate): the lag from a
  report's sending to its push's arrival, read from a microsecond stamp the report carries in its serviceData.
* ``burst``: ``--burst`` reports (spread over the devices, ``BURST_WINDOW`` in flight per device) sent as fast as
  the server acknowledges them, then the wait for all their pushes: pushes/s over the whole burst, how long its
  ingestion took, and the ``drain`` rate after it (pushes received after the last PUBACK per second until the
  last push), the dispatcher's own rate with the CPU to itself.

The receiver is a minimal HTTP/1.1 server of its own process (an ``asyncio.Protocol`` on uvloop, 200 at once,
keep-alive), measured alone first so its ceiling is known. The benchmark starts every process itself (the
receiver, then a fresh ``iotdm serve --no-tls`` per count, on free ports of 127.0.0.1 with a temporary data dir)
and stops them at the end, also on an error, Ctrl-C or SIGTERM. It reuses the raw MQTT client and the helpers of
``bench/mqtt.py``.

Run from the repository root: ``python bench/push.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import mmap
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlencode

from _common import default_iotdm, free_port, loop_name, machine_cpu_seconds, progress, run
from mqtt import (
    CONNECT_TIMEOUT_S,
    HOST,
    LOGIN_PATH,
    Child,
    Device,
    Iotdm,
    Load,
    MqttClient,
    connect_packet,
    device_credentials,
    http_connect,
    publish_head,
    raise_fd_limit,
    register_devices,
    start_py_spy,
    stop_py_spy,
)

# The target of bench/README.md (2-core machine, SQLite), for every subscription count.
TARGET_PUSHES_PER_S = 5_000.0

OTHER_CPU_WARNING_PCT = 15.0
SATURATED_PCT = 90.0  # a process this busy is the bottleneck

SUBSCRIBE_PATH = "/iocm/app/sub/v1.2.0/subscriptions"
NOTIFY_TYPE = "deviceDatasChanged"
KEEP_ALIVE_S = 60
CONNECT_CONCURRENCY = 128
SETUP_CONCURRENCY = 8  # apps set up (created, logged in, subscribed) or given devices at a time
TICK_S = 0.002  # how often the load generator tops reports up
MAX_BURST = 2_000  # reports written in one tick at most (after a stall, the pacer does not flood)
DRAIN_TIMEOUT_S = 30.0
BURST_WINDOW = 10  # reports of a burst in flight per device (as bench/mqtt.py's --inflight): each PUBACK sends one
BURST_MIN_RATE = 1_000.0  # the wait for a burst's pushes is given up after max(DRAIN_TIMEOUT_S, burst / this) s
PACED_SHARE = 0.8  # the paced rate is at most this share of the saturated one

# A report: the usual few properties and the microsecond it was written at, always 16 digits (until 2286), so
# that every PUBLISH of a connection has the same length and the receiver finds the stamp at a known key.
_STAMP_KEY = b'"sentUs":'
_PAYLOAD_HEAD = (
    b'{"msgType":"deviceReq","data":[{"serviceId":"Push","serviceData":'
    b'{"temperature":21.5,"humidity":40,"battery":87,' + _STAMP_KEY
)
_PAYLOAD_TAIL = b"}}]}"
PAYLOAD_SIZE = len(_PAYLOAD_HEAD) + 16 + len(_PAYLOAD_TAIL)


def _now_us() -> int:
    return time.time_ns() // 1000  # CLOCK_REALTIME: one clock for this process and the receiver's


# --- The receiver (its own process: ``push.py --receiver PORT COUNTER_FILE``) -----------------------------------

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_DEVICE_KEY = b'"deviceId":'


@dataclass
class _Tally:
    """What the receiver counts; ``counter`` is the file mapping the benchmark reads the total from."""

    counter: mmap.mmap
    total: int = 0
    recording: bool = False
    lags_us: list[int] = field(default_factory=list)
    per_path: dict[bytes, int] = field(default_factory=dict)
    # (path, deviceId) -> the newest stamp received: pushes of one key must arrive in report order.
    newest: dict[tuple[bytes, bytes], int] = field(default_factory=dict)
    out_of_order: int = 0
    first_us: int = 0  # the first and the last read answering pushes while recording
    last_us: int = 0


class _Receiving(asyncio.Protocol):
    """One keep-alive connection: requests with a Content-Length body (what aiohttp and httpx send), each answered
    200 at once, every answer of one read in one write."""

    def __init__(self, tally: _Tally) -> None:
        self._tally = tally
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf, tally = self._buffer, self._tally
        buf += data
        pos, answered, now_us = 0, 0, 0
        while (end := buf.find(b"\r\n\r\n", pos)) >= 0:
            head = bytes(buf[pos:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                length = 0
            else:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if end + 4 + length > len(buf):
                break
            if tally.recording:
                now_us = now_us or _now_us()
                body = buf[end + 4 : end + 4 + length]
                path = head[head.find(b" ") + 1 : head.find(b" http/")]
                tally.per_path[path] = tally.per_path.get(path, 0) + 1
                stamp = body.find(_STAMP_KEY)
                if stamp >= 0:
                    start = stamp + len(_STAMP_KEY)
                    sent_us = int(body[start : start + 16])
                    tally.lags_us.append(now_us - sent_us)
                    device = body.find(_DEVICE_KEY)
                    key = (path, bytes(body[device : device + len(_DEVICE_KEY) + 40]))
                    if sent_us < tally.newest.get(key, 0):
                        tally.out_of_order += 1
                    else:
                        tally.newest[key] = sent_us
            answered += 1
            pos = end + 4 + length
        if pos:
            del buf[:pos]
        if now_us:
            tally.last_us = now_us
            tally.first_us = tally.first_us or now_us
        if answered and self._transport is not None:
            self._transport.write(_OK * answered)
            tally.total += answered
            struct.pack_into("<Q", tally.counter, 0, tally.total)


def _stats(tally: _Tally) -> dict[str, Any]:
    lags = sorted(tally.lags_us)
    counts = sorted(tally.per_path.values())
    return {
        "total": tally.total,
        "recorded": sum(counts),
        "lag_p50_ms": round(_percentile(lags, 50) / 1000, 2),
        "lag_p99_ms": round(_percentile(lags, 99) / 1000, 2),
        "lag_max_ms": round(lags[-1] / 1000, 2) if lags else math.nan,
        "paths": len(counts),
        "per_path_min": counts[0] if counts else 0,
        "per_path_max": counts[-1] if counts else 0,
        "out_of_order": tally.out_of_order,
        "first_us": tally.first_us,
        "last_us": tally.last_us,
    }


async def _receive(port: int, counter_path: Path) -> None:
    """Serve until stdin closes; ``start`` (re)starts recording lags and paths, ``stop`` ends it and answers one
    JSON line of figures on stdout."""
    loop = asyncio.get_running_loop()
    with counter_path.open("r+b") as file:
        tally = _Tally(mmap.mmap(file.fileno(), 8))
    server = await loop.create_server(lambda: _Receiving(tally), HOST, port, backlog=1024)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    while line := await reader.readline():
        command = line.strip()
        if command == b"start":
            tally.recording, tally.lags_us, tally.per_path, tally.out_of_order = True, [], {}, 0
            tally.first_us = tally.last_us = 0
        elif command == b"stop":
            tally.recording = False
            print(json.dumps(_stats(tally)), flush=True)
    server.close()


class Receiver(Child):
    """The receiver process, with its request total in a shared 8-byte file and commands on its stdin."""

    def __init__(self, work_dir: Path) -> None:
        self.port = free_port(HOST)
        self.counter_path = work_dir / "receiver.count"
        self.counter_path.write_bytes(bytes(8))
        command = [sys.executable, __file__, "--receiver", str(self.port), str(self.counter_path)]
        super().__init__("receiver", command, work_dir / "receiver.log")
        self._popen: subprocess.Popen[bytes] | None = None
        self._counter: mmap.mmap | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True
            )
        self._process = self._popen
        with self.counter_path.open("rb") as file:
            self._counter = mmap.mmap(file.fileno(), 8, access=mmap.ACCESS_READ)

    async def ready(self) -> None:
        line = await self._readline()
        if line != "ready":
            raise RuntimeError(f"the receiver did not start: {line!r}\n{self.log_tail()}")

    def count(self) -> int:
        """Requests answered so far (read from the shared file: no round trip)."""
        assert self._counter is not None
        total: int = struct.unpack_from("<Q", self._counter, 0)[0]
        return total

    def start_recording(self) -> None:
        self._command("start")

    async def stop_recording(self) -> dict[str, Any]:
        self._command("stop")
        line = await self._readline()
        if not line:
            raise RuntimeError(f"the receiver exited:\n{self.log_tail()}")
        stats: dict[str, Any] = json.loads(line)
        return stats

    def _command(self, command: str) -> None:
        assert self._popen is not None and self._popen.stdin is not None
        self._popen.stdin.write(command.encode() + b"\n")
        self._popen.stdin.flush()

    async def _readline(self) -> str:
        assert self._popen is not None
        stdout = cast(IO[bytes], self._popen.stdout)
        line = await asyncio.get_running_loop().run_in_executor(None, stdout.readline)
        return line.decode().strip()


# --- The receiver alone: its ceiling ------------------------------------------------------------------------------


def _sample_request(port: int) -> bytes:
    """A push as an HTTP client library sends it: the usual headers, a deviceDatasChanged body of a bench report."""
    data = {"temperature": 21.5, "humidity": 40, "battery": 87, "sentUs": _now_us()}
    service = {"serviceId": "Push", "serviceType": "Push", "data": data, "eventTime": "20260101T000000Z"}
    body = json.dumps(
        {
            "notifyType": NOTIFY_TYPE,
            "requestId": "r1",
            "deviceId": "0" * 32,
            "gatewayId": "0" * 32,
            "services": [service],
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST /push/ceiling HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
        f"Connection: keep-alive\r\nUser-Agent: iotdm\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Hammer(asyncio.Protocol):
    """One keep-alive connection sending the next request as soon as the previous one is answered."""

    def __init__(self, request: bytes, counts: list[int]) -> None:
        self._request = request
        self._counts = counts  # [answers], shared by every connection
        self._received = 0
        self._transport: asyncio.Transport | None = None
        self.running = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        before = self._received // len(_OK)
        self._received += len(data)
        answered = self._received // len(_OK) - before  # the receiver's answers are all alike
        self._counts[0] += answered
        if answered and self.running and self._transport is not None:
            self._transport.write(self._request * answered)

    def close(self) -> None:
        self.running = False
        if self._transport is not None:
            self._transport.close()


async def receiver_ceiling(receiver: Receiver, connections: int, seconds: float) -> dict[str, Any]:
    """The receiver alone: ``connections`` keep-alive connections, one request in flight on each (as the
    server's pooled HTTP client does)."""
    loop = asyncio.get_running_loop()
    request, counts = _sample_request(receiver.port), [0]
    conns = [
        (await loop.create_connection(lambda: _Hammer(request, counts), HOST, receiver.port))[1]
        for _ in range(connections)
    ]
    try:
        await asyncio.sleep(0.3)  # warm-up
        cpu = CpuWatch(None, receiver)
        answered = counts[0]
        cpu.start()
        await asyncio.sleep(seconds)
        cpu.stop()
        answered = counts[0] - answered
    finally:
        for conn in conns:
            conn.close()
    rate = answered / cpu.seconds
    percents = cpu.percents()
    busy = percents["receiver_cpu_pct"]
    return {
        "connections": connections,
        "requests_per_s": round(rate, 1),
        "request_bytes": len(request),
        **percents,
        # What it would do with a core of its own: its requests per second of its own CPU.
        "ceiling_per_s": round(rate * 100 / busy, -2) if busy else math.inf,
    }


# --- The devices --------------------------------------------------------------------------------------------------


@dataclass
class Burst:
    """A burst under way, shared by every reporter: what was sent and acknowledged, and the moment of its last
    PUBACK with the receiver's count then (where the drain starts)."""

    size: int
    receiver: Receiver
    whole: CpuWatch
    drain: CpuWatch
    sent: int = 0
    acked: int = 0
    acked_us: int = 0  # when the last PUBACK of the burst arrived (0: not yet)
    received_at_ack: int = 0  # the receiver's total then

    def acknowledged(self, count: int) -> None:
        self.acked += count
        if self.acked >= self.size and not self.acked_us:
            self.acked_us = _now_us()
            self.received_at_ack = self.receiver.count()
            self.drain.start()


class Reporter(MqttClient):
    """A device connection that writes timestamped QoS 1 reports when told to. Its PUBACKs are counted (the shared
    ``Load`` never runs, so nothing refills a window), except during a burst: each then writes the next report of
    the device's share, until ``burst_left`` is 0."""

    burst: Burst | None = None
    burst_left = 0

    def _acknowledged(self, packet_ids: list[int]) -> None:
        before = len(self._sent)
        super()._acknowledged(packet_ids)
        burst = self.burst
        if burst is not None and (done := before - len(self._sent)):
            if self.burst_left:
                more = min(done, self.burst_left)
                self.burst_left -= more
                burst.sent += more
                self.report(more)
            burst.acknowledged(done)

    def report(self, count: int) -> None:
        if self.transport is None:
            return
        now = time.perf_counter()
        payload = _PAYLOAD_HEAD + b"%d" % _now_us() + _PAYLOAD_TAIL
        head, sent, packet_id = self._head, self._sent, self._last_id
        chunks = []
        for _ in range(count):
            packet_id = packet_id % 0xFFFF + 1
            sent[packet_id] = now
            chunks.append(head + packet_id.to_bytes(2, "big") + payload)
        self._last_id = packet_id
        self.transport.write(b"".join(chunks))


async def open_reporters(port: int, devices: list[Device], load: Load) -> list[Reporter]:
    """One authenticated session per device, ``CONNECT_CONCURRENCY`` CONNECTs at a time; all closed if one fails."""
    loop = asyncio.get_running_loop()
    reporters: list[Reporter] = []
    queue = iter(devices)

    async def worker() -> None:
        for device in queue:
            client_id, username, password = device_credentials(device.device_id, device.secret, datetime.now(UTC))
            head = publish_head(f"/huawei/v1/devices/{device.device_id}/data/json", PAYLOAD_SIZE)
            _, reporter = await loop.create_connection(partial(Reporter, load, head), HOST, port)
            reporters.append(reporter)
            reporter.write(connect_packet(client_id, username, password, KEEP_ALIVE_S))
            code = await asyncio.wait_for(reporter.connack, CONNECT_TIMEOUT_S)
            if code != 0:
                raise ConnectionError(f"CONNACK {code} for {device.device_id}")

    try:
        await asyncio.gather(*(worker() for _ in range(min(CONNECT_CONCURRENCY, len(devices)))))
    except BaseException:
        for reporter in reporters:
            reporter.close(disconnect=False)
        raise
    return reporters


class Driver:
    """Tops reports up every tick, spread one after the other over the devices: either up to ``backlog`` reports
    not yet pushed (saturated), or to ``rate`` reports per second since ``pace`` was called (paced)."""

    def __init__(self, reporters: list[Reporter], receiver: Receiver, expected: int) -> None:
        self.reporters = reporters
        self.receiver = receiver
        self.sent = 0
        self._expected = expected  # pushes the receiver got before this phase's first report
        self._next = 0  # the next reporter to take a report
        self._backlog: int | None = None
        self._rate = 0.0
        self._paced_since = 0.0
        self._paced_sent = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def pushes_due(self) -> int:
        """Every report sent so far, this phase's and earlier ones': each is one push."""
        return self._expected + self.sent

    def saturate(self, backlog: int) -> None:
        self._backlog = backlog
        self._ensure_running()

    def pace(self, rate: float) -> None:
        self._backlog, self._rate = None, rate
        self._paced_since, self._paced_sent = time.perf_counter(), 0
        self._ensure_running()

    async def pause(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _ensure_running(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run())

    async def run(self) -> None:
        while True:
            if self._backlog is not None:
                want = self._backlog - (self.pushes_due - self.receiver.count())
            else:
                want = int(self._rate * (time.perf_counter() - self._paced_since)) - self._paced_sent
            if want > 0:
                want = min(want, MAX_BURST)
                self._spread(want)
                self.sent += want
                self._paced_sent += want
            await asyncio.sleep(TICK_S)

    def _spread(self, count: int) -> None:
        reporters, n = self.reporters, len(self.reporters)
        each, extra = divmod(count, n)
        start = self._next
        if each:
            for i in range(n):
                reporters[(start + i) % n].report(each + (1 if i < extra else 0))
        else:
            for i in range(extra):
                reporters[(start + i) % n].report(1)
        self._next = (start + extra) % n


# --- Measuring ----------------------------------------------------------------------------------------------------


@dataclass
class CpuWatch:
    """CPU used during a measurement by the server, the receiver, this process, and every other process."""

    server: Child | None
    receiver: Child
    seconds: float = 0.0
    _marks: tuple[float, ...] = ()
    _used: tuple[float, ...] = ()

    def _now(self) -> tuple[float, ...]:
        server = self.server.cpu_seconds() if self.server else 0.0
        receiver = self.receiver.cpu_seconds()
        return time.perf_counter(), server, receiver, time.process_time(), machine_cpu_seconds()

    def start(self) -> None:
        self._marks = self._now()

    def stop(self) -> None:
        self._used = tuple(b - a for a, b in zip(self._marks, self._now(), strict=True))
        self.seconds = self._used[0]

    def percents(self) -> dict[str, float]:
        _, server, receiver, client, machine = self._used
        other = max(0.0, machine - server - receiver - client)

        def pct(s: float) -> float:
            return round(100 * s / self.seconds, 1)

        figures = {"receiver_cpu_pct": pct(receiver), "client_cpu_pct": pct(client), "other_cpu_pct": pct(other)}
        return ({"server_cpu_pct": pct(server)} if self.server else {}) | figures


def _percentile(ordered: list[int], p: float) -> float:
    """Nearest rank."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class App:
    app_id: str
    secret: str


async def create_apps(server: Iotdm, count: int, receiver_port: int) -> list[App]:
    """``count`` apps through the operator API (``POST /admin/apps``, no rate limit), each subscribed to
    ``deviceDatasChanged`` with a callback URL of its own on the receiver."""
    admin = {
        "Authorization": f"Bearer {(server.data_dir / 'admin.token').read_text().strip()}",
        "Content-Type": "application/json",
    }
    apps: list[App | None] = [None] * count
    numbers = iter(range(count))

    async def worker() -> None:
        conn = await http_connect(server.http_port)
        try:
            for number in numbers:
                body = json.dumps({"name": f"push-bench-{number}", "rateLimit": 0}).encode()
                status, answer = await conn.request("POST", "/admin/apps", admin, body)
                if status != 201:
                    raise RuntimeError(f"creating an app failed: {status} {answer[:300]!r}")
                app = App(json.loads(answer)["appId"], json.loads(answer)["secret"])
                form = urlencode({"appId": app.app_id, "secret": app.secret}).encode()
                login = {"Content-Type": "application/x-www-form-urlencoded"}
                status, answer = await conn.request("POST", LOGIN_PATH, login, form)
                if status != 200:
                    raise RuntimeError(f"login failed: {status} {answer[:300]!r}")
                auth = {
                    "app_key": app.app_id,
                    "Authorization": f"Bearer {json.loads(answer)['accessToken']}",
                    "Content-Type": "application/json",
                }
                url = f"http://{HOST}:{receiver_port}/push/{number}"
                body = json.dumps({"notifyType": NOTIFY_TYPE, "callbackUrl": url}).encode()
                status, answer = await conn.request("POST", SUBSCRIBE_PATH, auth, body)
                if status != 201:
                    raise RuntimeError(f"subscribing failed: {status} {answer[:300]!r}")
                apps[number] = app
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(min(SETUP_CONCURRENCY, count))))
    return [app for app in apps if app is not None]


async def devices_of(server: Iotdm, apps: list[App], count: int) -> list[Device]:
    """``count`` new password-mode devices, spread evenly over ``apps`` (interleaved: consecutive devices belong
    to different apps, so the load generator's round robin visits the apps in turn)."""
    shares = [count // len(apps) + (1 if i < count % len(apps) else 0) for i in range(len(apps))]
    per_app: list[list[Device]] = [[] for _ in apps]
    numbers = iter(range(len(apps)))

    async def worker() -> None:
        for i in numbers:
            if shares[i]:
                per_app[i] = await register_devices(server.http_port, apps[i].app_id, apps[i].secret, shares[i])

    await asyncio.gather(*(worker() for _ in range(min(SETUP_CONCURRENCY, len(apps)))))
    return [group[k] for k in range(max(shares)) for group in per_app if k < len(group)]


@dataclass(frozen=True)
class Options:
    subscriptions: list[int]
    devices: int
    backlog: int
    duration: float
    warmup: float
    paced_rate: float
    paced_duration: float
    burst: int
    database_url: str | None
    as_json: bool
    check: bool
    profile_dir: Path | None
    profile_format: str
    iotdm: str | None


async def measure(
    server: Iotdm, receiver: Receiver, driver: Driver, seconds: float, profile: Path | None = None
) -> dict[str, Any]:
    """Pushes received per second over ``seconds``, their lags, and the CPU of every process meanwhile."""
    spy = start_py_spy(profile, server.pid)
    try:
        cpu = CpuWatch(server, receiver)
        receiver.start_recording()
        sent, received = driver.sent, receiver.count()
        cpu.start()
        await asyncio.sleep(seconds)
        cpu.stop()
        received, sent = receiver.count() - received, driver.sent - sent
        stats = await receiver.stop_recording()
    finally:
        stop_py_spy(spy, profile)
    return {
        "reports_per_s": round(sent / cpu.seconds, 1),
        "pushes_per_s": round(received / cpu.seconds, 1),
        **_receipt(stats),
        **cpu.percents(),
    }


def _receipt(stats: dict[str, Any]) -> dict[str, Any]:
    """What the receiver recorded of a phase: lag, spread over the subscriptions, order."""
    return {
        "lag_p50_ms": stats["lag_p50_ms"],
        "lag_p99_ms": stats["lag_p99_ms"],
        "lag_max_ms": stats["lag_max_ms"],
        "subscriptions_pushed_to": stats["paths"],
        "per_subscription_min": stats["per_path_min"],
        "per_subscription_max": stats["per_path_max"],
        "out_of_order": stats["out_of_order"],
    }


async def _until_received(
    receiver: Receiver, pushes: int, timeout: float = DRAIN_TIMEOUT_S, poll: float = 0.05
) -> bool:
    """Until the receiver got ``pushes`` pushes in all (True), or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while receiver.count() < pushes:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll)
    return True


async def measure_burst(server: Iotdm, receiver: Receiver, driver: Driver, size: int) -> dict[str, Any]:
    """``size`` reports spread over the devices, ``BURST_WINDOW`` in flight per device, each PUBACK sending the next
    one, then the wait until the receiver got all their pushes. The times are wall-clock microseconds of this
    process (the first report, the last PUBACK) and of the receiver (the last push): one clock."""
    reporters, n = driver.reporters, len(driver.reporters)
    burst = Burst(size, receiver, CpuWatch(server, receiver), CpuWatch(server, receiver))
    due = driver.pushes_due + size
    base = receiver.count()
    each, extra = divmod(size, n)
    receiver.start_recording()
    burst.whole.start()
    started_us = _now_us()
    try:
        for i, reporter in enumerate(reporters):
            share = each + (1 if i < extra else 0)
            first = min(share, BURST_WINDOW)
            reporter.burst, reporter.burst_left = burst, share - first
            if first:
                burst.sent += first
                reporter.report(first)
        timeout = max(DRAIN_TIMEOUT_S, size / BURST_MIN_RATE)
        complete = await _until_received(receiver, due, timeout, poll=0.01)
        burst.whole.stop()
        if burst.acked_us:
            burst.drain.stop()
        stats = await receiver.stop_recording()
    finally:
        for reporter in reporters:
            reporter.burst, reporter.burst_left = None, 0
        driver.sent += burst.sent
    received = receiver.count() - base
    last_us = stats["last_us"]
    whole_s = (last_us - started_us) / 1e6 if last_us else math.nan
    ingest_s = (burst.acked_us - started_us) / 1e6 if burst.acked_us else math.nan
    after = receiver.count() - burst.received_at_ack if burst.acked_us else 0
    drain_s = (last_us - burst.acked_us) / 1e6 if burst.acked_us and last_us else math.nan
    # No drain when the dispatcher kept up with the ingestion (or it never finished): no rate of its own then.
    drain_rate = round(after / drain_s, 1) if after > 0 and drain_s > 0 else None
    return {
        "size": size,
        "window": BURST_WINDOW,
        "complete": complete,
        "pushes_received": received,
        "ingest_s": round(ingest_s, 3),
        "ingest_reports_per_s": round(size / ingest_s, 1) if ingest_s > 0 else math.nan,
        "pushed_during_ingest": burst.received_at_ack - base if burst.acked_us else received,
        "whole_s": round(whole_s, 3),
        "pushes_per_s": round(received / whole_s, 1) if whole_s > 0 else math.nan,
        "drain_s": round(drain_s, 3),
        "drained": after,
        "drain_pushes_per_s": drain_rate,
        **_receipt(stats),
        **burst.whole.percents(),
        "drain_cpu": burst.drain.percents() if burst.acked_us else None,
    }


async def push_phase(server: Iotdm, receiver: Receiver, count: int, opts: Options) -> dict[str, Any]:
    """One subscription count on a server of its own: apps, devices, the saturated then the paced measurement."""
    progress(f"{count} subscription(s): iotdm pid {server.pid}, creating {count} app(s), each subscribed ...")
    apps = await create_apps(server, count, receiver.port)
    progress(f"  registering {opts.devices:,} devices over them, connecting them ...")
    devices = await devices_of(server, apps, opts.devices)
    load = Load(inflight=0)  # never running: PUBACKs are counted, not answered with more reports
    reporters = await open_reporters(server.mqtt_port, devices, load)
    driver = Driver(reporters, receiver, receiver.count())
    profile = None
    if opts.profile_dir is not None:
        suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[opts.profile_format]
        profile = opts.profile_dir / f"push-{count}.{suffix}"
    paced: dict[str, Any] | None = None
    burst: dict[str, Any] | None = None
    try:
        progress(f"  saturated: {opts.warmup:g} s warm-up, then {opts.duration:g} s measured ...")
        driver.saturate(opts.backlog)
        await asyncio.sleep(opts.warmup)
        saturated = await measure(server, receiver, driver, opts.duration, profile)
        progress(f"  {saturated['pushes_per_s']:,.0f} pushes/s")
        rate = min(opts.paced_rate, PACED_SHARE * saturated["pushes_per_s"])
        await driver.pause()
        if await _until_received(receiver, driver.pushes_due):
            progress(f"  paced at {rate:,.0f} reports/s: 1 s to settle, then {opts.paced_duration:g} s measured ...")
            driver.pace(rate)
            await asyncio.sleep(1.0)
            paced = {"offered_per_s": round(rate, 1), **await measure(server, receiver, driver, opts.paced_duration)}
            progress(f"  lag p50 {paced['lag_p50_ms']:,.1f} ms, p99 {paced['lag_p99_ms']:,.1f} ms")
            await driver.pause()
            await _until_received(receiver, driver.pushes_due)
        else:
            progress(f"  the backlog did not drain in {DRAIN_TIMEOUT_S:.0f} s: no paced measurement")
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while any(r.pending for r in reporters) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if opts.burst and receiver.count() >= driver.pushes_due and not any(r.pending for r in reporters):
            progress(f"  burst of {opts.burst:,} reports, {BURST_WINDOW} in flight per device ...")
            burst = await measure_burst(server, receiver, driver, opts.burst)
            drain = burst["drain_pushes_per_s"]
            progress(
                f"  ingested in {burst['ingest_s']:.2f} s, all pushed after {burst['whole_s']:.2f} s: "
                f"{burst['pushes_per_s']:,.0f} pushes/s, drain "
                + (f"{drain:,.0f} pushes/s" if drain is not None else "none (pushed as fast as ingested)")
            )
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while any(r.pending for r in reporters) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        elif opts.burst:
            progress("  earlier reports not all pushed or acknowledged: no burst measurement")
        missing = driver.pushes_due - receiver.count()
        unacked = sum(r.pending for r in reporters)
        lost = sum(r.transport is None for r in reporters)
    finally:
        await driver.pause()
        for reporter in reporters:
            reporter.close()
    return {
        "subscriptions": count,
        "devices": len(devices),
        "saturated": saturated,
        "paced": paced,
        "burst": burst,
        "reports_sent": driver.sent,
        "reports_acked": load.acked,
        "reports_unacked": unacked,
        "connections_lost": lost,
        "pushes_missing": max(0, missing),
        "pushes_extra": max(0, -missing),
        "profile": str(profile) if profile else None,
    }


async def benchmark(opts: Options, work_dir: Path) -> dict[str, Any]:
    receiver = Receiver(work_dir)
    phases: list[dict[str, Any]] = []
    server: Iotdm | None = None
    try:
        receiver.start()
        await receiver.ready()
        progress(f"receiver pid {receiver.pid} on http://{HOST}:{receiver.port}: measuring it alone ...")
        alone = await receiver_ceiling(receiver, connections=64, seconds=2.0)
        progress(
            f"  {alone['requests_per_s']:,.0f} requests/s at {alone['receiver_cpu_pct']:.0f} % of a core "
            f"(ceiling about {alone['ceiling_per_s']:,.0f}/s)"
        )
        for count in opts.subscriptions:
            # A fresh server (and data dir) per count: no backlog, connection pool or cache of an earlier count.
            server = Iotdm(opts.iotdm or default_iotdm(), work_dir / f"iotdm-{count}", opts.database_url)
            server.data_dir.mkdir(parents=True, exist_ok=True)
            server.start()
            await server.ready()
            phases.append(await push_phase(server, receiver, count, opts))
            server.stop()
        return report(opts, alone, phases)
    finally:
        if server is not None:
            server.stop()
        receiver.stop()


def _target_value(phase: dict[str, Any]) -> float:
    """The burst's drain rate; its whole rate when the dispatcher kept up with the ingestion (no drain: its own rate
    is at least that); 0 without a burst."""
    burst = phase["burst"]
    if burst is None:
        return 0.0
    drain: float | None = burst["drain_pushes_per_s"]
    return drain if drain is not None else float(burst["pushes_per_s"])


def report(opts: Options, alone: dict[str, Any], phases: list[dict[str, Any]]) -> dict[str, Any]:
    targets = [
        {
            "target": f"{p['subscriptions']} subscription(s): burst drain >= {TARGET_PUSHES_PER_S:,.0f} pushes/s",
            "value": _target_value(p),
            "met": _target_value(p) >= TARGET_PUSHES_PER_S
            and p["burst"]["complete"]
            and p["pushes_missing"] == 0
            and p["pushes_extra"] == 0,
        }
        for p in phases
        if opts.burst
    ]
    settings = {k: v for k, v in os.environ.items() if k.startswith("IOTDM_PUSH_")}
    return {
        "config": {
            "subscriptions": opts.subscriptions,
            "devices": opts.devices,
            "backlog": opts.backlog,
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "paced_rate": opts.paced_rate,
            "paced_duration_s": opts.paced_duration,
            "burst": opts.burst,
            "burst_window": BURST_WINDOW,
            "notify_type": NOTIFY_TYPE,
            "report_bytes": PAYLOAD_SIZE,
            "server_push_settings": settings,
            "database": "postgresql" if opts.database_url and "postgres" in opts.database_url else "sqlite",
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "client_loop": loop_name(),
        },
        "receiver_alone": alone,
        "phases": phases,
        "targets": targets,
    }


def render_table(doc: dict[str, Any]) -> str:
    cfg, alone = doc["config"], doc["receiver_alone"]
    settings = ", ".join(f"{k}={v}" for k, v in cfg["server_push_settings"].items()) or "default push settings"
    lines = [
        f"iotdm push benchmark: {cfg['database']}, {cfg['devices']:,} devices reporting over MQTT, one "
        f"{cfg['notify_type']} push per report to a local HTTP receiver, {cfg['duration_s']:g} s saturated after "
        f"{cfg['warmup_s']:g} s warm-up (backlog {cfg['backlog']:,}), {cfg['paced_duration_s']:g} s paced, "
        f"bursts of {cfg['burst']:,} reports ({cfg['burst_window']} in flight per device), "
        f"{cfg['cpus']} CPUs, Python {cfg['python']}, client {cfg['client_loop']}, {settings}",
        f"receiver alone: {alone['requests_per_s']:,.0f} requests/s on {alone['connections']} keep-alive connections "
        f"at {alone['receiver_cpu_pct']:.0f} % of a core (client {alone['client_cpu_pct']:.0f} %): ceiling about "
        f"{alone['ceiling_per_s']:,.0f} requests/s",
        "",
    ]
    header = (
        f"{'subs':>4} {'mode':<9} {'reports/s':>9} {'pushes/s':>9} {'lag p50':>8} {'lag p99':>8} "
        f"{'server':>7} {'receiver':>8} {'client':>7} {'other':>6}"
    )
    lines += [header, "-" * len(header)]
    warnings: list[str] = []

    def cpu(m: dict[str, Any], mode: str, subs: int) -> str:
        if m["other_cpu_pct"] > OTHER_CPU_WARNING_PCT:
            warnings.append(f"WARNING: other processes used the CPU during {subs} {mode}")
        for who in ("receiver", "client"):
            if m[f"{who}_cpu_pct"] > SATURATED_PCT:
                warnings.append(f"WARNING: the {who} was saturated during {subs} {mode}")
        return (
            f"{m['server_cpu_pct']:>6.0f}% {m['receiver_cpu_pct']:>7.0f}% {m['client_cpu_pct']:>6.0f}% "
            f"{m['other_cpu_pct']:>5.0f}%"
        )

    for p in doc["phases"]:
        subs = p["subscriptions"]
        for mode in ("saturated", "paced"):
            m = p[mode]
            if m is None:
                lines.append(f"{subs:>4} {mode:<9} (skipped: the saturated backlog did not drain)")
                continue
            lines.append(
                f"{subs:>4} {mode:<9} {m['reports_per_s']:>9,.0f} {m['pushes_per_s']:>9,.0f} "
                f"{m['lag_p50_ms']:>8.1f} {m['lag_p99_ms']:>8.1f} {cpu(m, mode, subs)}"
            )
            if m["out_of_order"]:
                warnings.append(f"{subs} {mode}: {m['out_of_order']} pushes out of their device's order")
        b = p["burst"]
        if b is None:
            if cfg["burst"]:
                lines.append(f"{subs:>4} {'burst':<9} (skipped: earlier reports not all pushed)")
        else:
            lines.append(
                f"{subs:>4} {'burst':<9} {b['ingest_reports_per_s']:>9,.0f} {b['pushes_per_s']:>9,.0f} "
                f"{b['lag_p50_ms']:>8.1f} {b['lag_p99_ms']:>8.1f} {cpu(b, 'burst', subs)}"
            )
            drain, drain_cpu = b["drain_pushes_per_s"], b["drain_cpu"]
            if drain is not None and drain_cpu is not None:
                lines.append(
                    f"{subs:>4} {'drain':<9} {'-':>9} {drain:>9,.0f} {'-':>8} {'-':>8} {cpu(drain_cpu, 'drain', subs)}"
                )
            else:
                lines.append(f"{subs:>4} {'drain':<9} (none: every push arrived before the last PUBACK)")
            if b["out_of_order"]:
                warnings.append(f"{subs} burst: {b['out_of_order']} pushes out of their device's order")
            if not b["complete"]:
                warnings.append(f"{subs} burst: only {b['pushes_received']:,} of {b['size']:,} pushes arrived")
        if p["pushes_missing"] or p["pushes_extra"] or p["reports_unacked"] or p["connections_lost"]:
            warnings.append(
                f"{p['subscriptions']} subscription(s): {p['pushes_missing']} pushes missing and {p['pushes_extra']} "
                f"extra after {DRAIN_TIMEOUT_S:.0f} s, {p['reports_unacked']} reports unacknowledged, "
                f"{p['connections_lost']} connections lost"
            )
    lines.append("(lag: ms from a report's sending to its push's arrival; CPU: percent of one core)")
    bursts = [(p["subscriptions"], p["burst"]) for p in doc["phases"] if p["burst"] is not None]
    if bursts:
        lines += [
            "(burst: reports/s = burst / ingestion time, from its first report to its last PUBACK; pushes/s = burst / "
            "time from its first report to its last push, ingestion and delivery sharing the CPU.",
            " drain: pushes received after the last PUBACK / time from it to the last push, the dispatcher with the "
            "CPU to itself: the figure of the target)",
            "",
            f"{'subs':>4} {'burst':>7} {'ingested in':>11} {'pushed by then':>14} {'drained in':>10} "
            f"{'pushes then':>11} {'all pushed in':>13}",
        ]
        for subs, b in bursts:
            lines.append(
                f"{subs:>4} {b['size']:>7,} {b['ingest_s']:>9.2f} s {b['pushed_during_ingest']:>14,} "
                f"{b['drain_s']:>8.2f} s {b['drained']:>11,} {b['whole_s']:>11.2f} s"
            )
    lines += warnings
    lines.append("")
    lines += [f"[{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['value']:,}" for t in doc["targets"]]
    profiles = [p["profile"] for p in doc["phases"] if p["profile"]]
    if profiles:
        lines += ["", "profiles (py-spy slows the server: not for the rates): " + ", ".join(profiles)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--subscriptions", default="1,10,100", help="subscription counts, comma-separated; default 1,10,100"
    )
    parser.add_argument("--devices", type=int, default=1000, help="reporting devices per count; default 1000")
    parser.add_argument("--backlog", type=int, default=2000, help="reports not yet pushed, saturated; default 2000")
    parser.add_argument("--duration", type=float, default=8.0, help="measured saturated seconds; default 8")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before them; default 2")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=TARGET_PUSHES_PER_S,
        help="reports/s of the lag measurement, at most "
        f"{PACED_SHARE * 100:.0f}%% of the saturated rate; default {TARGET_PUSHES_PER_S:,.0f}",
    )
    parser.add_argument("--paced-duration", type=float, default=6.0, help="measured paced seconds; default 6")
    parser.add_argument(
        "--burst",
        type=int,
        default=60_000,
        help="reports of the burst (drain) measurement, spread over the devices, 0 = skip; default 60000",
    )
    parser.add_argument("--database-url", help="passed to iotdm; default SQLite in its data dir")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target of bench/README.md is missed")
    parser.add_argument("--profile-dir", type=Path, help="record iotdm with py-spy during each saturated measurement")
    parser.add_argument("--profile-format", choices=("flamegraph", "speedscope", "raw"), default="flamegraph")
    parser.add_argument("--iotdm", help="the iotdm executable to run (another build); default the installed one")
    args = parser.parse_args(argv)
    try:
        args.subscriptions = [int(n) for n in args.subscriptions.split(",")]
    except ValueError:
        parser.error("--subscriptions takes counts separated by commas, e.g. 1,10,100")
    if min(args.subscriptions) < 1 or args.devices < max(args.subscriptions):
        parser.error("every subscription count must be at least 1, and --devices at least the largest")
    if args.backlog < 1 or args.duration <= 0 or args.paced_rate <= 0 or args.paced_duration <= 0:
        parser.error("--backlog, --duration, --paced-rate and --paced-duration must be positive")
    if args.burst < 0:
        parser.error("--burst must be 0 (no burst) or more")
    if args.check and not args.burst:
        parser.error("--check needs a burst: the target is the burst's drain rate")
    return Options(**vars(args))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--receiver"]:  # the receiver process this benchmark starts
        run(_receive(int(argv[1]), Path(argv[2])))
        return 0
    opts = parse_args(argv)
    raise_fd_limit(opts.devices + 1024)
    if opts.profile_dir is not None:
        opts.profile_dir.mkdir(parents=True, exist_ok=True)
    # SIGTERM ends the benchmark like Ctrl-C does, through the finally blocks that stop every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="iotdm-push-bench-") as work:
        try:
            doc = run(benchmark(opts, Path(work)))
        except KeyboardInterrupt:
            progress("interrupted")
            return 130
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            progress(f"benchmark failed: {exc}")
            return 1
    print(json.dumps(doc, indent=2) if opts.as_json else render_table(doc))
    return 1 if opts.check and not all(t["met"] for t in doc["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
