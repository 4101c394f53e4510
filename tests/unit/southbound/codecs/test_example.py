from __future__ import annotations

import pytest

from iotdm.southbound.codecs import load_codecs
from iotdm.southbound.codecs.example import TemperatureSensorCodec


def test_decodes_a_report() -> None:
    message = TemperatureSensorCodec().decode(bytes([0, 0xFF, 0xF6, 55]))
    assert message == {
        "msgType": "deviceReq",
        "data": [{"serviceId": "Sensor", "serviceData": {"temperature": -1.0, "humidity": 55}}],
    }


@pytest.mark.parametrize("payload", [b"", b"\x00\x01", b"\x01\x00\x10\x20", b"\x00\x00\x00\x00\x00"])
def test_refuses_other_bytes(payload: bytes) -> None:
    with pytest.raises(ValueError):
        TemperatureSensorCodec().decode(payload)


def test_encodes_a_command() -> None:
    assert TemperatureSensorCodec().encode({"msgType": "cloudReq", "cmd": "PING", "mid": 258}) == b"\x01\x01\x02PING"


def test_the_installed_plugin_is_found_by_its_model_key() -> None:
    codecs = load_codecs()
    assert isinstance(codecs["iotdm/iotdm-example/TemperatureSensor/TS-1/MQTT"], TemperatureSensorCodec)
