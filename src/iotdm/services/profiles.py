"""Product models (DECISIONS D6): operators import, list and delete profiles; §1.5.5 reads a device's
service capabilities from its profile."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from iotdm.domain.devices import Row
from iotdm.domain.profiles import (
    Profile,
    ProfileError,
    ProfileKey,
    added_notifications,
    capabilities,
    deleted_notifications,
    key_of_device,
    parse_profile,
    to_json,
)
from iotdm.domain.times import format_time
from iotdm.services.clock import now_ms, to_datetime
from iotdm.store import apps as app_store
from iotdm.store import devices as device_store
from iotdm.store import outbox
from iotdm.store import profiles as profile_store
from iotdm.store.devices import DeviceFilter
from iotdm.store.engine import Database

_PAGE = 1000  # devices read at a time when §1.5.5 lists all of an app's devices

# §1.5.5's DeviceCapabilityDTO list (named here: inside Profiles, ``list`` is the method).
DeviceCapabilities = list[dict[str, Any]]


@dataclass(frozen=True)
class ProfileSummary:
    key: ProfileKey
    product_id: str | None
    service_ids: tuple[str, ...]
    created_at: int

    def json(self) -> dict[str, Any]:
        return {
            **self.key.json(),
            "productId": self.product_id,
            "serviceIds": list(self.service_ids),
            "createdAt": format_time(to_datetime(self.created_at)),
        }


@dataclass(frozen=True)
class Imported:
    summary: ProfileSummary
    replaced: bool  # a profile with the same key existed and was replaced


def _summary(profile: Profile, created_at: int) -> ProfileSummary:
    return ProfileSummary(profile.key, profile.product_id, tuple(s.service_id for s in profile.services), created_at)


def _apps_to_tell(conn: sa.Connection, models: Iterable[tuple[ProfileKey, str | None]]) -> list[str]:
    """Profiles are platform-wide, notifications go to apps: the apps that have a device of the model, and while
    no app has one, every app, since any of them may register such devices."""
    return profile_store.apps_with_devices_of(conn, models) or [row["app_id"] for row in app_store.list_all(conn)]


@dataclass(frozen=True)
class _Found:
    profile: Profile

    @cached_property
    def capabilities(self) -> list[dict[str, Any]]:
        return capabilities(self.profile)


class _Resolver:
    """Finds each device's profile within one transaction, reading each profile once."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._by_product_id: dict[str, _Found | None] = {}
        self._by_key: dict[ProfileKey, _Found | None] = {}

    @staticmethod
    def _load(row: sa.RowMapping | None) -> _Found | None:
        return None if row is None else _Found(parse_profile(row["profile"]))

    def find(self, device: Row) -> _Found | None:
        """The profile named by the device's productId, else the one of its five model fields."""
        product_id = device["product_id"]
        if product_id:
            if product_id not in self._by_product_id:
                self._by_product_id[product_id] = self._load(profile_store.by_product_id(self._conn, product_id))
            if (found := self._by_product_id[product_id]) is not None:
                return found
        key = key_of_device(device)
        if key is None:
            return None
        if key not in self._by_key:
            self._by_key[key] = self._load(profile_store.by_key(self._conn, key))
        return self._by_key[key]


def profile_of(conn: sa.Connection, device: Row) -> Profile | None:
    """The device's product model, if one is loaded (DECISIONS D6)."""
    found = _Resolver(conn).find(device)
    return None if found is None else found.profile


def _devices(
    conn: sa.Connection, app_id: str, device_id: str | None, gateway_id: str | None
) -> Iterator[sa.RowMapping]:
    """The devices §1.5.5 answers for. An unknown or foreign id selects none: the API has no "not found" row."""
    if device_id is not None:
        row = device_store.get(conn, app_id, device_id)
        # With both ids the device must be the gateway or under it, as for the histories.
        if row is not None and gateway_id in (None, row["gateway_id"]):
            yield row
    elif gateway_id is not None:
        gateway = device_store.get(conn, app_id, gateway_id)
        if gateway is not None:
            yield gateway
            # children() looks at gateway ids only; keep to the caller's app all the same (D7).
            children = [row for row in device_store.children(conn, gateway_id) if row["app_id"] == app_id]
            yield from sorted(children, key=lambda row: (row["created_at"], row["device_id"]))
    else:
        # Oldest first: devices registered meanwhile land after the last page instead of shifting the pages.
        everything = DeviceFilter(app_id=app_id, ascending=True)
        offset = 0
        while rows := device_store.page(conn, everything, offset, _PAGE):
            yield from rows
            if len(rows) < _PAGE:
                break
            offset += len(rows)


class Profiles:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Operators (CLI and admin API)

    async def import_(self, profile_json: object) -> Imported:
        """Add a profile, or replace the one with the same five-field key; raises ProfileError when invalid or
        when its productId belongs to another profile."""
        profile = parse_profile(profile_json)
        stored = to_json(profile)

        def write(conn: sa.Connection) -> Imported:
            now = now_ms()
            existing = profile_store.by_key(conn, profile.key, lock=True)
            if profile.product_id is not None:
                owner = profile_store.by_product_id(conn, profile.product_id)
                if owner is not None and (existing is None or owner["id"] != existing["id"]):
                    other = parse_profile(owner["profile"]).key.describe()
                    raise ProfileError(f"productId {profile.product_id!r} belongs to another profile ({other})")
            models = [(profile.key, profile.product_id)]
            if existing is None:
                profile_store.insert(conn, profile.key, profile.product_id, stored, now)
            else:
                profile_store.replace(conn, existing["id"], profile.product_id, stored)
                # Devices that named the replaced productId used this profile until now.
                models.append((profile.key, existing["product_id"]))
            for app_id in _apps_to_tell(conn, models):
                for payload in added_notifications(app_id, profile.key, replaced=existing is not None):
                    outbox.append(conn, app_id, payload, now)
            created_at = now if existing is None else existing["created_at"]
            return Imported(_summary(profile, created_at), replaced=existing is not None)

        try:
            return await self._db.write(write)
        except sa.exc.IntegrityError:
            # A concurrent import of the same key or productId committed first; the retry sees it (and replaces
            # it, or refuses the productId).
            return await self._db.write(write)

    async def list(self) -> list[ProfileSummary]:
        def read(conn: sa.Connection) -> list[ProfileSummary]:
            return [_summary(parse_profile(row["profile"]), row["created_at"]) for row in profile_store.list_all(conn)]

        return await self._db.read(read)

    async def delete(self, target: ProfileKey | str) -> ProfileSummary | None:
        """Delete the profile with this key or productId (a str); None when there is none."""

        def write(conn: sa.Connection) -> ProfileSummary | None:
            if isinstance(target, ProfileKey):
                row = profile_store.by_key(conn, target, lock=True)
            else:
                row = profile_store.by_product_id(conn, target, lock=True)
            if row is None:
                return None
            profile = parse_profile(row["profile"])
            now = now_ms()
            for app_id in _apps_to_tell(conn, [(profile.key, profile.product_id)]):
                for payload in deleted_notifications(app_id, profile.key):
                    outbox.append(conn, app_id, payload, now)
            profile_store.delete(conn, row["id"])
            return _summary(profile, row["created_at"])

        return await self._db.write(write)

    # Devices

    async def for_device(self, device: Row) -> Profile | None:
        """The device's profile: by its productId first, else by its five model fields."""

        def read(conn: sa.Connection) -> Profile | None:
            found = _Resolver(conn).find(device)
            return None if found is None else found.profile

        return await self._db.read(read)

    async def capabilities(self, app_id: str, device_id: str | None, gateway_id: str | None) -> DeviceCapabilities:
        """§1.5.5 DeviceCapabilityDTO list: the device, or the gateway and its children, or all the app's devices;
        a device without a profile has no service capabilities."""

        def read(conn: sa.Connection) -> DeviceCapabilities:
            resolver = _Resolver(conn)
            answer: DeviceCapabilities = []
            for row in _devices(conn, app_id, device_id, gateway_id):
                found = resolver.find(row)
                answer.append(
                    {"deviceId": row["device_id"], "serviceCapabilities": found.capabilities if found else []}
                )
            return answer

        return await self._db.read(read)
