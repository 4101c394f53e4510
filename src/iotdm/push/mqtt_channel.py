"""MQTT delivery (DECISIONS S5): the push goes to the receiving app's clients connected to this node's MQTT
listener, and counts as delivered once one of them acknowledged it (PUBACK)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from iotdm.domain.subscriptions import receiving_app
from iotdm.push.channel import DeliveryError, Target

# appId, body -> done once acknowledged; raises ConnectionError when no client of the app took it.
PublishToApp = Callable[[str, bytes], Awaitable[None]]


class MqttChannel:
    def __init__(self, publish: PublishToApp) -> None:
        self._publish = publish

    async def send(self, target: Target, body: bytes) -> None:
        app_id = receiving_app(target.app_id, target.created_by, target.owner_flag)
        try:
            await self._publish(app_id, body)
        except ConnectionError as exc:
            raise DeliveryError(str(exc)) from exc
