"""Simulated devices for ``iotdm device simulate``: the demo and the load generator in one.

Each simulated device registers over the northbound API (or comes from a file), connects over MQTT exactly as a
device of chapter 8 does (clientId, HMAC password) and reports at a given rate with QoS 1, counting the PUBACKs.
It speaks MQTT through the platform's own codec rather than paho: a few hundred devices in one process would
spend more CPU in paho than the platform spends storing their reports.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from iotdm.domain.device_auth import expected_password
from iotdm.southbound.mqtt import codec


@dataclass(frozen=True)
class SimulatedDevice:
    device_id: str
    secret: str


@dataclass
class Counters:
    connected: int = 0
    sent: int = 0
    acked: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)


async def register(api: str, app_id: str, secret: str, count: int, verify: bool) -> list[SimulatedDevice]:
    """Register ``count`` password-mode devices (§1.4.2) with a fresh nodeId each."""
    async with httpx.AsyncClient(base_url=api, verify=verify, timeout=30) as http:
        login = await http.post("/iocm/app/sec/v1.1.0/login", data={"appId": app_id, "secret": secret})
        login.raise_for_status()
        http.headers.update({"app_key": app_id, "Authorization": f"Bearer {login.json()['accessToken']}"})
        gate = asyncio.Semaphore(16)

        async def one(number: int) -> SimulatedDevice:
            body = {
                "deviceInfo": {"nodeId": f"sim-{uuid.uuid4().hex[:12]}-{number}", "model": "Simulated"},
                "mqttConnect": True,
            }
            async with gate:
                answer = await http.post("/iocm/app/reg/v2.0.0/deviceCredentials", json=body)
            answer.raise_for_status()
            return SimulatedDevice(answer.json()["deviceId"], answer.json()["secret"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def load(path: Path) -> list[SimulatedDevice]:
    """A JSON list of {"deviceId", "secret"} objects, as ``save`` writes it."""
    return [SimulatedDevice(d["deviceId"], d["secret"]) for d in json.loads(path.read_text())]


def save(path: Path, devices: list[SimulatedDevice]) -> None:
    path.write_text(json.dumps([{"deviceId": d.device_id, "secret": d.secret} for d in devices], indent=1))


async def run_device(
    device: SimulatedDevice,
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    rate: float,
    stop_at: float,
    counters: Counters,
) -> None:
    """Connect, then report every 1/rate seconds until ``stop_at``; every report waits for its PUBACK."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H")
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    inbox = _Inbox(reader)
    connected = False
    try:
        password = expected_password(device.secret, stamp).encode()
        connect = codec.Connect(
            f"{device.device_id}_0_1_{stamp}", keep_alive=60, username=device.device_id, password=password
        )
        writer.write(codec.encode(connect))
        if await inbox.next() != codec.ConnAck(return_code=0):
            counters.failed += 1
            return
        connected = True
        counters.connected += 1
        topic = f"/huawei/v1/devices/{device.device_id}/data/json"
        packet_id = 0
        await asyncio.sleep(random.random() / rate)  # spread the devices over the period
        while time.monotonic() < stop_at:
            packet_id = packet_id % 0xFFFF + 1
            report = {
                "msgType": "deviceReq",
                "data": [
                    {
                        "serviceId": "Sensor",
                        "serviceData": {
                            "temperature": round(random.uniform(15, 30), 1),
                            "humidity": random.randint(20, 80),
                        },
                    }
                ],
            }
            writer.write(codec.encode(codec.Publish(topic, json.dumps(report).encode(), qos=1, packet_id=packet_id)))
            counters.sent += 1
            if await inbox.next() == codec.PubAck(packet_id):
                counters.acked += 1
            else:
                counters.failed += 1
            await asyncio.sleep(1 / rate)
        writer.write(codec.encode(codec.Disconnect()))
    except (OSError, codec.MalformedPacket):
        counters.failed += 1
    finally:
        counters.connected -= connected
        writer.close()


class _Inbox:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._decoder = codec.Decoder(1 << 20)
        self._ready: list[codec.Packet] = []

    async def next(self) -> codec.Packet | None:
        """The next packet from the platform, or None once it closed the connection."""
        while not self._ready:
            data = await self._reader.read(65536)
            if not data:
                return None
            self._ready.extend(self._decoder.feed(data))
        return self._ready.pop(0)
