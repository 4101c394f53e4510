"""Queries on applications, their tokens and the authorizations between them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from iotdm.store.schema import app_grants, apps, refresh_tokens


def insert(conn: sa.Connection, app_id: str, name: str, secret_hash: str, rate_limit: int | None, now: int) -> None:
    conn.execute(
        apps.insert().values(app_id=app_id, name=name, secret_hash=secret_hash, rate_limit=rate_limit, created_at=now)
    )


_BY_ID = apps.select().where(apps.c.app_id == sa.bindparam("app_id"))


def get(conn: sa.Connection, app_id: str) -> sa.RowMapping | None:
    return conn.execute(_BY_ID, {"app_id": app_id}).mappings().first()


def list_all(conn: sa.Connection) -> Sequence[sa.RowMapping]:
    result = conn.execute(apps.select().order_by(apps.c.created_at, apps.c.app_id))
    return result.mappings().all()


def set_access_token(conn: sa.Connection, app_id: str, token_hash: str, expires_at: int) -> None:
    conn.execute(
        apps.update().where(apps.c.app_id == app_id).values(access_token_hash=token_hash, access_expires_at=expires_at)
    )


def add_refresh_token(conn: sa.Connection, app_id: str, token_hash: str, expires_at: int, now: int) -> None:
    conn.execute(refresh_tokens.delete().where(refresh_tokens.c.expires_at <= now))
    conn.execute(refresh_tokens.insert().values(token_hash=token_hash, app_id=app_id, expires_at=expires_at))


def refresh_token_valid(conn: sa.Connection, app_id: str, token_hash: str, now: int) -> bool:
    result = conn.execute(
        sa.select(refresh_tokens.c.token_hash).where(
            refresh_tokens.c.token_hash == token_hash,
            refresh_tokens.c.app_id == app_id,
            refresh_tokens.c.expires_at > now,
        )
    )
    return result.first() is not None


def grant(conn: sa.Connection, owner_app_id: str, grantee_app_id: str) -> None:
    exists = is_granted(conn, owner_app_id, grantee_app_id)
    if not exists:
        conn.execute(app_grants.insert().values(owner_app_id=owner_app_id, grantee_app_id=grantee_app_id))


def is_granted(conn: sa.Connection, owner_app_id: str, grantee_app_id: str) -> bool:
    result = conn.execute(
        sa.select(app_grants.c.owner_app_id).where(
            app_grants.c.owner_app_id == owner_app_id, app_grants.c.grantee_app_id == grantee_app_id
        )
    )
    return result.first() is not None


def grantees(conn: sa.Connection, owner_app_id: str) -> list[str]:
    result = conn.execute(
        sa.select(app_grants.c.grantee_app_id)
        .where(app_grants.c.owner_app_id == owner_app_id)
        .order_by(app_grants.c.grantee_app_id)
    )
    return list(result.scalars())
