"""Nothing lost: every report acknowledged to a device (PUBACK) is committed, even across a hard kill."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.device.devices import credentials, data_topic
from tests.processes import Server, create_app


def test_every_acknowledged_report_survives_a_hard_kill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, "--no-tls")
    try:
        app = create_app(data_dir, "durable")
        with server.api(app) as api:
            registered = api.post(
                "/iocm/app/reg/v2.0.0/deviceCredentials",
                json={"deviceInfo": {"nodeId": str(uuid.uuid4()), "model": "M"}},
            ).json()
        acknowledged = _report_until_killed(server, registered["deviceId"], registered["secret"])
    finally:
        server.stop()
    assert len(acknowledged) >= 100

    restarted = Server(data_dir, "--no-tls")
    try:
        with restarted.api(app) as api:
            body = api.get(
                "/iocm/app/data/v1.2.0/deviceDataHistory",
                params={"deviceId": registered["deviceId"], "pageSize": 2000},
            ).json()
        stored = {row["data"]["seq"] for row in body["deviceDataHistoryDTOs"]}
        assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
    finally:
        restarted.stop()


def _report_until_killed(server: Server, device_id: str, secret: str) -> set[int]:
    """Publish numbered QoS 1 reports, SIGKILL the server mid-stream; answer the numbers that were PUBACKed."""
    # No lock of ours around paho calls: paho runs this callback holding its own lock, which publish() takes too.
    acked: set[int] = set()
    seq_of: dict[int, int] = {}

    def on_publish(_c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        acked.add(mid)

    client_id, username, password = credentials(device_id, secret)
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    paho.username_pw_set(username, password)
    paho.max_inflight_messages_set(100)
    paho.on_publish = on_publish
    port = int(server.mqtt_url.rsplit(":", 1)[1])
    paho.connect("127.0.0.1", port)
    paho.loop_start()
    try:
        for seq in range(3000):
            report = {"msgType": "deviceReq", "data": [{"serviceId": "Seq", "serviceData": {"seq": seq}}]}
            seq_of[paho.publish(data_topic(device_id), json.dumps(report), qos=1).mid] = seq
            if seq == 300:
                deadline = time.monotonic() + 10
                while len(acked) < 100 and time.monotonic() < deadline:
                    time.sleep(0.01)
                server.process.send_signal(signal.SIGKILL)  # mid-stream, with reports in flight
                break
    finally:
        paho.loop_stop()
        paho.disconnect()
    return {seq_of[mid] for mid in set(acked)}
