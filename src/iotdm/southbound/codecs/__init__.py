"""Codec plug-ins for ``codecMode`` ``binary`` (DECISIONS M3): device bytes to and from the JSON message form.

A plug-in is a Python entry point in the group ``iotdm.codecs`` whose name is the product-model key
``manufacturerId/manufacturerName/deviceType/model/protocolType`` (``iotdm.domain.devices.model_key``) and whose
object is a class with a no-argument constructor implementing ``Codec``. ``docs/codecs.md`` shows how to write
one.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any, Protocol

log = logging.getLogger(__name__)

GROUP = "iotdm.codecs"


class Codec(Protocol):
    def decode(self, payload: bytes) -> dict[str, Any]:
        """Device bytes -> a message in the JSON form (e.g. ``{"msgType": "deviceReq", "data": [...]}``).

        Raise ValueError for bytes that are not a valid message."""
        ...

    def encode(self, message: dict[str, Any]) -> bytes:
        """A platform message in the JSON form (e.g. ``cloudReq``) -> the bytes the device understands."""
        ...


def load_codecs() -> dict[str, Codec]:
    """Every installed plug-in, by key; a plug-in that fails to load is logged and left out."""
    codecs: dict[str, Codec] = {}
    for point in entry_points(group=GROUP):
        try:
            codecs[point.name] = point.load()()
        except Exception:
            log.exception("codec plug-in %s (%s) failed to load", point.name, point.value)
    return codecs
