"""The use cases of one platform node, wired to its database and settings."""

from __future__ import annotations

from dataclasses import dataclass

from iotdm.services.app_access import AppAccess
from iotdm.services.apps import AppService
from iotdm.services.cluster import Cluster
from iotdm.services.credentials import Keyring
from iotdm.services.dead_letters import DeadLetters
from iotdm.services.device_access import DeviceAccess
from iotdm.services.device_queries import DeviceQueries
from iotdm.services.history import History
from iotdm.services.ingest import ReportWriter
from iotdm.services.profiles import Profiles
from iotdm.services.registry import Registry
from iotdm.services.shadow import Shadow
from iotdm.services.subscriptions import Subscriptions
from iotdm.settings import Settings
from iotdm.store.engine import Database


@dataclass(frozen=True)
class Services:
    cluster: Cluster
    apps: AppService
    app_access: AppAccess
    registry: Registry
    queries: DeviceQueries
    shadow: Shadow
    history: History
    reports: ReportWriter
    devices: DeviceAccess
    profiles: Profiles
    dead_letters: DeadLetters
    subscriptions: Subscriptions

    @classmethod
    def build(cls, db: Database, settings: Settings, keyring: Keyring) -> Services:
        cluster = Cluster(db, timeout=settings.node_timeout)
        reports = ReportWriter(db)
        devices = DeviceAccess(db, keyring, reports, cluster)
        apps = AppService(db, settings)
        return cls(
            cluster=cluster,
            apps=apps,
            app_access=AppAccess(db, apps, cluster),
            registry=Registry(db, keyring, settings.registration_timeout),
            queries=DeviceQueries(db),
            shadow=Shadow(db, devices),
            history=History(db),
            reports=reports,
            devices=devices,
            profiles=Profiles(db),
            dead_letters=DeadLetters(db),
            subscriptions=Subscriptions(db),
        )
