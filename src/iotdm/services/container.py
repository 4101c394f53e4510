"""The use cases of one platform node, wired to its engine and settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from iotdm.services.apps import AppService
from iotdm.services.credentials import Keyring
from iotdm.services.device_queries import DeviceQueries
from iotdm.services.registry import Registry
from iotdm.services.shadow import Shadow
from iotdm.settings import Settings


@dataclass(frozen=True)
class Services:
    apps: AppService
    registry: Registry
    queries: DeviceQueries
    shadow: Shadow

    @classmethod
    def build(cls, engine: AsyncEngine, settings: Settings, keyring: Keyring) -> Services:
        return cls(
            apps=AppService(engine, settings),
            registry=Registry(engine, keyring, settings.registration_timeout),
            queries=DeviceQueries(engine),
            shadow=Shadow(engine),
        )
