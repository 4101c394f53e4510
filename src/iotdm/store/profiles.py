"""Queries on product models (profiles), and on the devices and apps a profile concerns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from iotdm.domain.profiles import KEY_FIELDS, ProfileKey
from iotdm.store.schema import devices, profiles


def _key_matches(table: sa.Table, key: ProfileKey) -> sa.ColumnElement[bool]:
    return sa.and_(*(table.c[attr] == getattr(key, attr) for _, attr in KEY_FIELDS))


def by_key(conn: sa.Connection, key: ProfileKey, *, lock: bool = False) -> sa.RowMapping | None:
    query = profiles.select().where(_key_matches(profiles, key))
    return conn.execute(query.with_for_update() if lock else query).mappings().first()


def by_product_id(conn: sa.Connection, product_id: str, *, lock: bool = False) -> sa.RowMapping | None:
    query = profiles.select().where(profiles.c.product_id == product_id)
    return conn.execute(query.with_for_update() if lock else query).mappings().first()


def insert(conn: sa.Connection, key: ProfileKey, product_id: str | None, profile: dict[str, Any], now: int) -> None:
    values = {attr: getattr(key, attr) for _, attr in KEY_FIELDS}
    conn.execute(profiles.insert().values(**values, product_id=product_id, profile=profile, created_at=now))


def replace(conn: sa.Connection, profile_id: int, product_id: str | None, profile: dict[str, Any]) -> None:
    conn.execute(profiles.update().where(profiles.c.id == profile_id).values(product_id=product_id, profile=profile))


def delete(conn: sa.Connection, profile_id: int) -> None:
    conn.execute(profiles.delete().where(profiles.c.id == profile_id))


def list_all(conn: sa.Connection) -> Sequence[sa.RowMapping]:
    return conn.execute(profiles.select().order_by(profiles.c.created_at, profiles.c.id)).mappings().all()


def apps_with_devices_of(conn: sa.Connection, models: Iterable[tuple[ProfileKey, str | None]]) -> list[str]:
    """The apps owning a device that names one of these (key, productId) models: by its productId or by its five
    model fields."""
    matches: list[sa.ColumnElement[bool]] = []
    for key, product_id in models:
        matches.append(_key_matches(devices, key))
        if product_id is not None:
            matches.append(devices.c.product_id == product_id)
    if not matches:
        return []
    query = sa.select(devices.c.app_id).where(sa.or_(*matches)).distinct().order_by(devices.c.app_id)
    return list(conn.execute(query).scalars())
