"""The seam between the dispatcher and a transport: one ``Channel`` per subscription channel ("HTTP", "MQTT")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Target:
    """Where a push goes: the delivery fields of its subscription."""

    subscription_id: str
    app_id: str  # the app whose events are pushed
    created_by: str  # the app that subscribed
    owner_flag: bool
    notify_type: str
    callback_url: str


class DeliveryError(Exception):
    """The push was not accepted; the message says why (kept as the push's last error)."""


class Channel(Protocol):
    async def send(self, target: Target, body: bytes) -> None:
        """Deliver ``body`` (one JSON object) or raise ``DeliveryError``; the dispatcher bounds how long it takes."""
        ...
