"""An example codec plug-in: a temperature/humidity sensor that reports in four bytes.

Uplink ``0x00 TT TT HH``: message type 0 (report), temperature in tenths of a degree (signed 16-bit, big endian),
humidity in percent (unsigned byte). It becomes one ``Sensor`` service report. Downlink: a ``cloudReq`` becomes
``0x01 MM MM`` + the command name in UTF-8 (MM MM = mid).
"""

from __future__ import annotations

import struct
from typing import Any

_REPORT = struct.Struct(">BhB")


class TemperatureSensorCodec:
    def decode(self, payload: bytes) -> dict[str, Any]:
        if len(payload) != _REPORT.size:
            raise ValueError(f"a report is {_REPORT.size} bytes, got {len(payload)}")
        kind, tenths, humidity = _REPORT.unpack(payload)
        if kind != 0:
            raise ValueError(f"unknown message type {kind}")
        data = {"temperature": tenths / 10, "humidity": humidity}
        return {"msgType": "deviceReq", "data": [{"serviceId": "Sensor", "serviceData": data}]}

    def encode(self, message: dict[str, Any]) -> bytes:
        return struct.pack(">BH", 1, int(message["mid"])) + str(message["cmd"]).encode()
