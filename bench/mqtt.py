"""Benchmark of device access over MQTT: iotdm against mosquitto, with one load generator for both.

Three measurements in one run:

* ``publish`` on iotdm: ``--devices`` registered devices, each on its own MQTT 3.1.1 connection, publish QoS 1
  reports (144 bytes of JSON) on their data topic, each keeping ``--inflight`` PUBLISHes unacknowledged.
  iotdm sends PUBACK only once a report is committed, so the rate is of committed reports.
* ``publish`` on mosquitto: the same connections, topics, payloads and window against a local mosquitto
  (persistence off), which acknowledges on receipt: the ceiling of a C broker on this machine, for the ratio.
* ``idle``: ``--idle`` authenticated connections that only keep their session up; the server's resident memory
  before and after, per connection (a fresh server process, so earlier phases leave nothing behind).

It starts every process itself (``iotdm serve --no-tls`` and mosquitto on free ports of 127.0.0.1, in temporary
directories) and stops them at the end, also on an error, Ctrl-C or SIGTERM. The MQTT client is written here, on raw
bytes: the machine has two cores shared by broker and load generator, and paho-mqtt costs far more CPU per
message than either broker. Acknowledgements refill the window from the protocol callback itself, so a message
costs the client no task, no future and (per batch of acknowledgements that arrive together) one write.

Run from the repository root: ``python bench/mqtt.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from _common import default_iotdm, free_port, loop_name, machine_cpu_seconds, progress, run

from iotdm.domain.device_auth import expected_password
from iotdm.southbound.mqtt import codec

T = TypeVar("T")

HOST = "127.0.0.1"
LOGIN_PATH = "/iocm/app/sec/v1.1.0/login"
REGISTER_PATH = "/iocm/app/reg/v2.0.0/deviceCredentials"

# The targets of bench/README.md (2-core machine, SQLite).
TARGET_REPORTS_PER_S = 15_000.0
TARGET_IDLE_KIB = 5.0
TARGET_MOSQUITTO_RATIO = 0.3

# More CPU than this used by other processes during a phase makes its figures untrustworthy.
OTHER_CPU_WARNING_PCT = 15.0
CLIENT_SATURATED_PCT = 90.0

REGISTER_CONCURRENCY = 64  # HTTP keep-alive connections registering devices
CONNECT_CONCURRENCY = 128  # MQTT CONNECTs awaiting their CONNACK at any time
CONNECT_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 30.0  # for the PUBACKs still due when a publish phase ends


# --- MQTT 3.1.1: packets built once by the project's codec, the hot path on raw bytes ----------------------------

PUBACK = 0x40
CONNACK = 0x20
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


def connect_packet(client_id: str, username: str, password: str, keep_alive: int) -> bytes:
    """CONNECT, MQTT level 4, clean session, user name and password (once per connection: the project's codec)."""
    return codec.encode(codec.Connect(client_id, keep_alive=keep_alive, username=username, password=password.encode()))


def publish_head(topic: str, payload_size: int) -> bytes:
    """A QoS 1 PUBLISH up to its packet id: the bytes every message of one connection shares."""
    packet = codec.encode(codec.Publish(topic, bytes(payload_size), qos=1, packet_id=1))
    return packet[: len(packet) - 2 - payload_size]


def device_credentials(device_id: str, secret: str, now: datetime) -> tuple[str, str, str]:
    """(clientId, username, password) of chapter 8, signType 0."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H")
    return f"{device_id}_0_0_{stamp}", device_id, expected_password(secret, stamp)


def report_payload(number: int) -> bytes:
    """A deviceReq report of about 140 bytes; values differ per device so the stored rows are not all alike."""
    data = {"temperature": round(15 + number % 150 / 10, 1), "humidity": 40 + number % 50, "pressure": 1013.25}
    data |= {"battery": 87, "co2": 415}
    message = {"msgType": "deviceReq", "data": [{"serviceId": "Temp", "serviceData": data}]}
    return json.dumps(message, separators=(",", ":")).encode()


@dataclass
class Load:
    """Shared by every publishing connection of one phase; the protocol callbacks update it."""

    inflight: int
    running: bool = False
    measuring: bool = False
    acked: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, of PUBACKs received while measuring
    lost_connections: int = 0
    unexpected_acks: int = 0


class MqttClient(asyncio.Protocol):
    """One device connection: CONNECT/CONNACK, then (with a ``Load``) a window of QoS 1 PUBLISHes."""

    def __init__(self, load: Load | None = None, head: bytes = b"", payload: bytes = b"") -> None:
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._load = load
        self._head = head
        self._payload = payload
        self._sent: dict[int, float] = {}  # packet id -> when its PUBLISH was written
        self._last_id = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.connack.done():
            self.connack.set_exception(ConnectionError(f"closed before CONNACK: {exc}"))
        elif self._load is not None and self._load.running:
            self._load.lost_connections += 1
        self._sent.clear()  # never acknowledged now

    @property
    def pending(self) -> int:
        return len(self._sent)

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos, end, acks = 0, len(buf), []
        while pos + 2 <= end:
            # Every packet a broker sends this client is short: the varint is one byte, except in theory.
            length, header = buf[pos + 1], 2
            if length & 0x80:
                length, header = self._long_length(buf, pos)
                if header == 0:
                    break
            if pos + header + length > end:
                break
            kind = buf[pos] & 0xF0
            if kind == PUBACK:
                acks.append(buf[pos + 2] << 8 | buf[pos + 3])
            elif kind == CONNACK and not self.connack.done():
                self.connack.set_result(buf[pos + 3])
            pos += header + length  # PINGRESP, and anything else, is skipped
        del buf[:pos]
        if acks:
            self._acknowledged(acks)

    @staticmethod
    def _long_length(buf: bytearray, pos: int) -> tuple[int, int]:
        """(remaining length, header size) of a multi-byte varint; header size 0 while incomplete."""
        length = 0
        for i in range(4):
            if pos + 1 + i >= len(buf):
                return 0, 0
            byte = buf[pos + 1 + i]
            length |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                return length, 2 + i
        raise ConnectionError("malformed remaining length from the broker")

    def _acknowledged(self, packet_ids: list[int]) -> None:
        load = self._load
        if load is None:
            return
        now = time.perf_counter()  # one clock read for every PUBACK of this segment
        sent, done = self._sent, 0
        for packet_id in packet_ids:
            at = sent.pop(packet_id, None)
            if at is None:
                load.unexpected_acks += 1
                continue
            done += 1
            if load.measuring:
                load.latencies.append(now - at)
        load.acked += done
        if load.running and done:
            self.publish(done)

    def publish(self, count: int) -> None:
        """Write ``count`` more PUBLISHes in one write (how a window refills after a segment of PUBACKs)."""
        if self.transport is None:
            return
        now = time.perf_counter()
        head, payload, sent, packet_id = self._head, self._payload, self._sent, self._last_id
        chunks = []
        for _ in range(count):
            packet_id = packet_id % 0xFFFF + 1  # 1..65535; the window is far smaller than the id space
            sent[packet_id] = now
            chunks.append(head + packet_id.to_bytes(2, "big") + payload)
        self._last_id = packet_id
        self.transport.write(b"".join(chunks))

    def start(self) -> None:
        assert self._load is not None
        self.publish(self._load.inflight)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self, disconnect: bool = True) -> None:
        if self.transport is not None:
            if disconnect:
                self.transport.write(DISCONNECT)
            self.transport.close()
            self.transport = None


@dataclass(frozen=True)
class Device:
    device_id: str
    secret: str


async def open_session(
    port: int, device: Device, keep_alive: int, load: Load | None = None, payload: bytes = b""
) -> MqttClient:
    """A connection that got CONNACK 0 (ConnectionError otherwise)."""
    loop = asyncio.get_running_loop()
    client_id, username, password = device_credentials(device.device_id, device.secret, datetime.now(UTC))
    head = publish_head(f"/huawei/v1/devices/{device.device_id}/data/json", len(payload))
    _, client = await loop.create_connection(lambda: MqttClient(load, head, payload), HOST, port)
    client.write(connect_packet(client_id, username, password, keep_alive))
    try:
        code = await asyncio.wait_for(client.connack, CONNECT_TIMEOUT_S)
    except BaseException:
        client.close(disconnect=False)
        raise
    if code != 0:
        client.close(disconnect=False)
        raise ConnectionError(f"CONNACK {code} for {device.device_id}")
    return client


async def open_sessions(
    port: int, devices: list[Device], keep_alive: int, load: Load | None = None
) -> list[MqttClient]:
    """One session per device, ``CONNECT_CONCURRENCY`` CONNECTs at a time; every client is closed if one fails."""
    clients: list[MqttClient] = []
    queue = iter(enumerate(devices))

    async def worker() -> None:
        for number, device in queue:
            payload = report_payload(number) if load is not None else b""
            clients.append(await open_session(port, device, keep_alive, load, payload))

    try:
        await asyncio.gather(*(worker() for _ in range(min(CONNECT_CONCURRENCY, len(devices)))))
    except BaseException:
        close_all(clients)
        raise
    return clients


def close_all(clients: list[MqttClient]) -> None:
    for client in clients:
        client.close()


# --- A minimal HTTP/1.1 keep-alive client (registration only) --------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One request at a time; answers must carry a Content-Length (which is what uvicorn sends here)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None or self._waiter.done():
            return
        head = self._buffer[:end].decode("latin-1").split("\r\n")
        length = next((int(v) for n, _, v in (h.partition(":") for h in head) if n.lower() == "content-length"), 0)
        if len(self._buffer) < end + 4 + length:
            return
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        self._waiter.set_result((int(head[0].split(" ", 2)[1]), body))

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self._transport is None:
            raise ConnectionError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await asyncio.wait_for(self._waiter, 60)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def http_connect(port: int) -> HttpConnection:
    _, conn = await asyncio.get_running_loop().create_connection(HttpConnection, HOST, port)
    return conn


async def register_devices(http_port: int, app_id: str, app_secret: str, count: int) -> list[Device]:
    """``count`` password-mode devices (mqttConnect), ``REGISTER_CONCURRENCY`` requests at a time."""
    conn = await http_connect(http_port)
    form = urlencode({"appId": app_id, "secret": app_secret}).encode()
    status, body = await conn.request("POST", LOGIN_PATH, {"Content-Type": "application/x-www-form-urlencoded"}, form)
    conn.close()
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body!r}")
    headers = {
        "app_key": app_id,
        "Authorization": f"Bearer {json.loads(body)['accessToken']}",
        "Content-Type": "application/json",
    }
    run_id = uuid.uuid4().hex[:8]  # nodeIds stay unique across runs on one PostgreSQL database
    devices: list[Device] = []
    numbers = iter(range(count))

    async def worker() -> None:
        conn = await http_connect(http_port)
        try:
            for number in numbers:
                info = {"nodeId": f"mqtt-bench-{run_id}-{number}", "model": "M"}
                request = json.dumps({"deviceInfo": info, "mqttConnect": True}).encode()
                status, body = await conn.request("POST", REGISTER_PATH, headers, request)
                if status != 200:
                    raise RuntimeError(f"registration failed: {status} {body[:300]!r}")
                answer = json.loads(body)
                devices.append(Device(answer["deviceId"], answer["secret"]))
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(min(REGISTER_CONCURRENCY, count))))
    return devices


# --- The processes under test ----------------------------------------------------------------------------------


async def _wait_port(port: int, child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.exited():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError(f"{child.name} does not listen on {port} after {timeout:.0f} s:\n{child.log_tail()}")


class Child:
    """A process of its own session (Ctrl-C reaches only the benchmark), stopped with SIGTERM."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def exited(self) -> bool:
        return self._process is None or self._process.poll() is not None

    def cpu_seconds(self) -> float:
        """User + system CPU of the process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)  # iotdm marks every connected device offline on its way out
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Iotdm(Child):
    def __init__(self, iotdm: str, data_dir: Path, database_url: str | None) -> None:
        self.iotdm = iotdm
        self.data_dir = data_dir
        self.flags = ["--data-dir", str(data_dir)] + (["--database-url", database_url] if database_url else [])
        self.http_port = free_port(HOST)
        self.mqtt_port = free_port(HOST)
        command = [iotdm, "serve", "--no-tls", "--host", HOST, "--http-port", str(self.http_port)]
        command += ["--mqtt-port", str(self.mqtt_port), *self.flags]
        super().__init__("iotdm", command, data_dir / "server.log")

    async def ready(self) -> None:
        await _wait_port(self.http_port, self)
        await _wait_port(self.mqtt_port, self)

    def create_app(self) -> tuple[str, str]:
        command = [self.iotdm, "app", "create", "bench", "--rate-limit", "0", "--json", *self.flags]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"iotdm app create failed:\n{done.stdout}{done.stderr}")
        created = json.loads(done.stdout.strip().splitlines()[-1])
        return created["appId"], created["secret"]


def mosquitto_executable() -> str:
    """mosquitto, installed with apt-get when it is missing (the Debian package; root only)."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto), or run with --no-mosquitto")
    progress("installing mosquitto with apt-get ...")
    policy = subprocess.run(["apt-cache", "policy", "mosquitto"], capture_output=True, text=True, check=False)
    if "Candidate:" not in policy.stdout or "Candidate: (none)" in policy.stdout:
        subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "mosquitto"], check=True, stdout=subprocess.DEVNULL, env=env)
    return mosquitto_executable()


class Mosquitto(Child):
    def __init__(self, executable: str, work_dir: Path, tag: str) -> None:
        self.mqtt_port = free_port(HOST)
        config = work_dir / f"mosquitto-{tag}.conf"
        # Acknowledges on receipt and keeps nothing: the broker's own per-message cost, nothing on disk.
        config.write_text(
            f"listener {self.mqtt_port} {HOST}\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nmax_queued_messages 1000\n"
        )
        super().__init__("mosquitto", [executable, "-c", str(config)], work_dir / f"mosquitto-{tag}.log")

    async def ready(self) -> None:
        await _wait_port(self.mqtt_port, self)


# --- Phases ----------------------------------------------------------------------------------------------------


@dataclass
class CpuWatch:
    """CPU used during a phase by the broker, this client, and every other process on the machine."""

    broker: Child
    seconds: float = 0.0
    broker_s: float = 0.0
    client_s: float = 0.0
    machine_s: float = 0.0
    _marks: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def start(self) -> None:
        self._marks = (time.perf_counter(), self.broker.cpu_seconds(), time.process_time(), machine_cpu_seconds())

    def stop(self) -> None:
        t, broker, client, machine = self._marks
        self.seconds = time.perf_counter() - t
        self.broker_s = self.broker.cpu_seconds() - broker
        self.client_s = time.process_time() - client
        self.machine_s = machine_cpu_seconds() - machine

    def percents(self) -> dict[str, float]:
        other = max(0.0, self.machine_s - self.broker_s - self.client_s)
        pct = (lambda s: round(100 * s / self.seconds, 1)) if self.seconds else (lambda s: 0.0)
        return {"broker_cpu_pct": pct(self.broker_s), "client_cpu_pct": pct(self.client_s), "other_cpu_pct": pct(other)}


def _percentile_ms(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted latencies in seconds, in milliseconds."""
    if not ordered:
        return math.nan
    return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def publish_phase(
    broker: Child, port: int, devices: list[Device], opts: Options, profile: Path | None = None
) -> dict[str, Any]:
    progress(f"{broker.name}: connecting {len(devices):,} publishers ...")
    load = Load(opts.inflight)
    clients = await open_sessions(port, devices, opts.keep_alive, load)
    spy: subprocess.Popen[bytes] | None = None
    try:
        load.running = True
        for client in clients:
            client.start()
        progress(f"{broker.name}: publishing, {opts.warmup:g} s warm-up, then {opts.duration:g} s measured ...")
        spy = start_py_spy(profile, broker.pid)  # attaches during the warm-up
        await asyncio.sleep(opts.warmup)  # discarded: lazy imports, caches, batch sizes settling
        cpu = CpuWatch(broker)
        load.measuring, acked = True, load.acked
        cpu.start()
        await asyncio.sleep(opts.duration)
        cpu.stop()
        load.measuring, acked = False, load.acked - acked
        load.running = False
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while any(c.pending for c in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        unanswered = sum(c.pending for c in clients)
    finally:
        load.running = False
        stop_py_spy(spy, profile)
        close_all(clients)
    await _settle(broker)  # iotdm marks every device offline: not on the next phase's CPU
    load.latencies.sort()
    rate = acked / cpu.seconds
    progress(f"{broker.name}: {rate:,.0f} acknowledged reports/s")
    return {
        "broker": broker.name,
        "connections": len(clients),
        "acked": acked,
        "seconds": round(cpu.seconds, 3),
        "acked_per_s": round(rate, 1),
        "p50_ms": round(_percentile_ms(load.latencies, 50), 2),
        "p99_ms": round(_percentile_ms(load.latencies, 99), 2),
        "lost_connections": load.lost_connections,
        "unanswered_at_end": unanswered,
        "unexpected_acks": load.unexpected_acks,
        **cpu.percents(),
    }


async def _settle(broker: Child, quiet_pct: float = 3.0, timeout: float = 60.0) -> None:
    """Until the broker uses less than ``quiet_pct`` of a core (iotdm writes each CONNECT's ONLINE after CONNACK)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = broker.cpu_seconds()
        await asyncio.sleep(0.5)
        if (broker.cpu_seconds() - before) / 0.5 * 100 < quiet_pct:
            return


async def _pinger(clients: list[MqttClient], keep_alive: int) -> None:
    """PINGREQ every half keep-alive: sessions stay up however long the phase takes."""
    while True:
        await asyncio.sleep(keep_alive / 2)
        for client in clients:
            client.write(PINGREQ)


async def idle_phase(broker: Child, port: int, devices: list[Device], opts: Options) -> dict[str, Any]:
    # Warm-up: the first sessions pay for lazy imports and compiled statements, not for being connected.
    close_all(await open_sessions(port, devices[:32], opts.keep_alive))
    await asyncio.sleep(0.5)
    await _settle(broker)
    before = broker.rss_kib()
    progress(f"{broker.name}: opening {len(devices):,} idle connections (RSS {before / 1024:.1f} MiB) ...")
    clients: list[MqttClient] = []
    pinger = asyncio.create_task(_pinger(clients, opts.keep_alive)) if opts.keep_alive else None
    try:
        started = time.perf_counter()
        clients += await open_sessions(port, devices, opts.keep_alive)
        connect_s = time.perf_counter() - started
        await _settle(broker)
        await asyncio.sleep(1.0)
        after = broker.rss_kib()
        alive = sum(c.transport is not None for c in clients)
    finally:
        if pinger is not None:
            pinger.cancel()
        close_all(clients)
    per_connection = (after - before) / len(devices)
    progress(f"{broker.name}: RSS {after / 1024:.1f} MiB, {per_connection:.2f} KiB per connection")
    return {
        "broker": broker.name,
        "connections": len(devices),
        "alive_at_end": alive,
        "connect_per_s": round(len(devices) / connect_s, 1),
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_connection": round(per_connection, 2),
    }


def start_py_spy(out: Path | None, pid: int) -> subprocess.Popen[bytes] | None:
    """``--profile``: py-spy records the server until ``stop_py_spy`` (it slows the server down)."""
    if out is None:
        return None
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(out.suffix, "raw")
    command = [exe, "record", "--pid", str(pid), "--rate", "200", "--format", fmt, "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_py_spy(spy: subprocess.Popen[bytes] | None, out: Path | None) -> None:
    if spy is None or out is None:
        return
    spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    _, err = spy.communicate(timeout=60)
    if not out.exists():
        progress(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


# --- The benchmark ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    devices: int
    idle: int
    inflight: int
    duration: float
    warmup: float
    keep_alive: int
    database_url: str | None
    mosquitto: bool
    as_json: bool
    check: bool
    profile: Path | None
    iotdm: str | None


def raise_fd_limit(needed: int) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: this client and the brokers (which inherit it) hold a socket each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        raise SystemExit(f"{needed} file descriptors needed, the hard limit is {hard}: lower --idle or --devices")
    return wanted


async def benchmark(opts: Options, work_dir: Path) -> dict[str, Any]:
    mosquitto = mosquitto_executable() if opts.mosquitto else None
    server = Iotdm(opts.iotdm or default_iotdm(), work_dir / "iotdm", opts.database_url)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    brokers: list[Child] = [server]
    publish: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    try:
        server.start()
        await server.ready()
        progress(f"iotdm pid {server.pid}: http {server.http_port}, mqtt {server.mqtt_port}, data in {server.data_dir}")
        app_id, app_secret = server.create_app()
        wanted = max(opts.devices, opts.idle)
        progress(f"registering {wanted:,} devices ...")
        started = time.perf_counter()
        devices = await register_devices(server.http_port, app_id, app_secret, wanted)
        register_rate = len(devices) / (time.perf_counter() - started)
        progress(f"  {register_rate:,.0f} devices/s")

        publishers = devices[: opts.devices]
        publish.append(await publish_phase(server, server.mqtt_port, publishers, opts, opts.profile))
        if mosquitto:
            broker = Mosquitto(mosquitto, work_dir, "publish")
            brokers.append(broker)
            broker.start()
            await broker.ready()
            publish.append(await publish_phase(broker, broker.mqtt_port, publishers, opts))
            broker.stop()

        if opts.idle:
            # A fresh server process: what the publish phase allocated would otherwise blur the difference.
            server.stop()
            server.start()
            await server.ready()
            idle.append(await idle_phase(server, server.mqtt_port, devices[: opts.idle], opts))
            if mosquitto:
                broker = Mosquitto(mosquitto, work_dir, "idle")
                brokers.append(broker)
                broker.start()
                await broker.ready()
                idle.append(await idle_phase(broker, broker.mqtt_port, devices[: opts.idle], opts))
        return report(opts, publish, idle, register_rate)
    finally:
        for child in brokers:
            child.stop()


def report(
    opts: Options, publish: list[dict[str, Any]], idle: list[dict[str, Any]], register_rate: float
) -> dict[str, Any]:
    rates = {p["broker"]: p["acked_per_s"] for p in publish}
    ratio = rates["iotdm"] / rates["mosquitto"] if rates.get("mosquitto") else None
    targets = [
        {
            "target": f"iotdm >= {TARGET_REPORTS_PER_S:,.0f} committed reports/s",
            "value": rates["iotdm"],
            "met": rates["iotdm"] >= TARGET_REPORTS_PER_S,
        }
    ]
    if idle:
        kib = idle[0]["kib_per_connection"]
        targets.append(
            {
                "target": f"iotdm <= {TARGET_IDLE_KIB:g} KiB per idle connection",
                "value": kib,
                "met": kib <= TARGET_IDLE_KIB,
            }
        )
    if ratio is not None:
        targets.append(
            {
                "target": f"iotdm >= {TARGET_MOSQUITTO_RATIO:g} x mosquitto's acknowledged rate",
                "value": round(ratio, 3),
                "met": ratio >= TARGET_MOSQUITTO_RATIO,
            }
        )
    return {
        "config": {
            "devices": opts.devices,
            "inflight": opts.inflight,
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "keep_alive_s": opts.keep_alive,
            "idle": opts.idle,
            "payload_bytes": len(report_payload(0)),
            "database": "postgresql" if opts.database_url and "postgres" in opts.database_url else "sqlite",
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "client_loop": loop_name(),
        },
        "register_per_s": round(register_rate, 1),
        "publish": publish,
        "iotdm_to_mosquitto": None if ratio is None else round(ratio, 3),
        "idle": idle,
        "targets": targets,
    }


def render_table(doc: dict[str, Any]) -> str:
    cfg = doc["config"]
    lines = [
        f"iotdm MQTT benchmark: {cfg['database']}, {cfg['devices']:,} publishers x {cfg['inflight']} in flight, "
        f"QoS 1, {cfg['payload_bytes']}-byte reports, {cfg['duration_s']:g} s after {cfg['warmup_s']:g} s warm-up, "
        f"keep-alive {cfg['keep_alive_s']} s, {cfg['cpus']} CPUs, Python {cfg['python']}, client {cfg['client_loop']}",
        f"(setup: {doc['register_per_s']:,.0f} device registrations/s)",
        "",
    ]
    header = (
        f"{'publish':<10} {'acked/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'acked':>10} {'lost':>5} "
        f"{'broker CPU':>11} {'client CPU':>11} {'other CPU':>10}"
    )
    lines += [header, "-" * len(header)]
    for p in doc["publish"]:
        lost = p["lost_connections"] + p["unanswered_at_end"]
        lines.append(
            f"{p['broker']:<10} {p['acked_per_s']:>9,.0f} {p['p50_ms']:>8.1f} {p['p99_ms']:>8.1f} {p['acked']:>10,} "
            f"{lost:>5} {p['broker_cpu_pct']:>10.0f}% {p['client_cpu_pct']:>10.0f}% {p['other_cpu_pct']:>9.0f}%"
        )
    if doc["iotdm_to_mosquitto"] is not None:
        lines.append(f"iotdm / mosquitto: {doc['iotdm_to_mosquitto']:.3f}")
    lines.append("(CPU: percent of one core; lost = connections lost + PUBLISHes never acknowledged)")
    busy = [p["broker"] for p in doc["publish"] if p["other_cpu_pct"] > OTHER_CPU_WARNING_PCT]
    if busy:
        lines.append(f"WARNING: other processes used the CPU during {', '.join(busy)}: those figures are too low")
    bound = [p["broker"] for p in doc["publish"] if p["client_cpu_pct"] > CLIENT_SATURATED_PCT]
    if bound:
        # One core is all an asyncio client gets: past it, the broker's rate is only known to be at least this.
        lines.append(f"note: the load generator was saturated during {', '.join(bound)}: a lower bound of that rate")
    if doc["idle"]:
        header = (
            f"{'idle':<10} {'connections':>11} {'connect/s':>10} {'RSS before':>11} {'RSS after':>10} {'KiB/conn':>9}"
        )
        lines += ["", header, "-" * len(header)]
        for i in doc["idle"]:
            lines.append(
                f"{i['broker']:<10} {i['alive_at_end']:>11,} {i['connect_per_s']:>10,.0f} "
                f"{i['rss_before_mib']:>7.1f} MiB {i['rss_after_mib']:>6.1f} MiB {i['kib_per_connection']:>9.2f}"
            )
    lines.append("")
    lines += [f"[{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['value']:,}" for t in doc["targets"]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=1000, help="publishing devices (connections); default 1000")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections, 0 = skip; default 10000")
    parser.add_argument("--inflight", type=int, default=10, help="unacknowledged PUBLISHes per connection; default 10")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per broker; default 10")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded seconds before them; default 2")
    parser.add_argument("--keep-alive", type=int, default=60, help="CONNECT keep-alive in s, 0 = none; default 60")
    parser.add_argument("--database-url", help="passed to iotdm; default SQLite in its data dir")
    parser.add_argument("--no-mosquitto", dest="mosquitto", action="store_false", help="skip the mosquitto runs")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target of bench/README.md is missed")
    parser.add_argument("--profile", type=Path, help="py-spy file of iotdm's measured publish phase (.svg/.json/raw)")
    parser.add_argument("--iotdm", help="the iotdm executable to run (another build); default the installed one")
    args = parser.parse_args(argv)
    if args.devices < 1 or args.idle < 0 or not 0 < args.inflight < 0xFFFF or args.duration <= 0:
        parser.error("--devices, --inflight and --duration must be positive, --idle at least 0")
    if not 0 <= args.keep_alive <= 0xFFFF:
        parser.error("--keep-alive must be 0..65535")
    return Options(**vars(args))


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    raise_fd_limit(max(opts.devices, opts.idle) + 512)
    # SIGTERM ends the benchmark like Ctrl-C does, through the finally blocks that stop every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="iotdm-mqtt-bench-") as work:
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
