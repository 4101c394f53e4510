"""Applications: operator management, login and token refresh (§1.3), request authentication (G4-G6)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from iotdm.domain.errors import E, PlatformError
from iotdm.domain.ratelimit import SlidingWindowLimiter
from iotdm.services import credentials
from iotdm.services.clock import now_ms
from iotdm.settings import Settings
from iotdm.store import apps as app_store


@dataclass(frozen=True)
class NewApp:
    app_id: str
    secret: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        """The login/refreshToken answer (§1.3.1 L520, DECISIONS G4)."""
        return {
            "scope": "default",
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
        }


@dataclass(frozen=True)
class AppSummary:
    app_id: str
    name: str
    rate_limit: int | None
    authorized_apps: list[str]


class AppService:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._limiter = SlidingWindowLimiter()

    # Operators (CLI and admin API)

    async def create(self, name: str, rate_limit: int | None) -> NewApp:
        app = NewApp(credentials.new_app_id(), credentials.new_secret())
        async with self._engine.begin() as conn:
            await app_store.insert(conn, app.app_id, name, credentials.digest(app.secret), rate_limit, now_ms())
        return app

    async def list(self) -> list[AppSummary]:
        async with self._engine.connect() as conn:
            rows = await app_store.list_all(conn)
            return [
                AppSummary(
                    row["app_id"],
                    row["name"],
                    row["rate_limit"],
                    await app_store.grantees(conn, row["app_id"]),
                )
                for row in rows
            ]

    async def authorize(self, owner_app_id: str, grantee_app_id: str) -> None:
        """Let ``grantee_app_id`` act on the devices of ``owner_app_id`` through the appId parameter (G5)."""
        async with self._engine.begin() as conn:
            for app_id in (owner_app_id, grantee_app_id):
                if await app_store.get(conn, app_id) is None:
                    raise PlatformError(E.APP_NOT_EXISTED)
            await app_store.grant(conn, owner_app_id, grantee_app_id)

    # §1.3 Secure application access

    async def login(self, app_id: str, secret: str) -> Tokens:
        async with self._engine.begin() as conn:
            row = await app_store.get(conn, app_id)
            if row is None or not credentials.matches(secret, row["secret_hash"]):
                raise PlatformError(E.APP_SECRET_WRONG)
            return await self._issue(conn, app_id)

    async def refresh(self, app_id: str, secret: str, refresh_token: str) -> Tokens:
        async with self._engine.begin() as conn:
            row = await app_store.get(conn, app_id)
            if row is None or not credentials.matches(secret, row["secret_hash"]):
                raise PlatformError(E.APP_SECRET_WRONG)
            if not await app_store.refresh_token_valid(conn, app_id, credentials.digest(refresh_token), now_ms()):
                raise PlatformError(E.INPUT_INVALID_50400)
            return await self._issue(conn, app_id)

    async def _issue(self, conn: Any, app_id: str) -> Tokens:
        """A new accessToken replaces every earlier one of the app (§1.3.1 L508, DECISIONS G4)."""
        now = now_ms()
        tokens = Tokens(credentials.new_token(), credentials.new_token(), self._settings.access_token_ttl)
        await app_store.set_access_token(
            conn, app_id, credentials.digest(tokens.access_token), now + tokens.expires_in * 1000
        )
        await app_store.add_refresh_token(
            conn,
            app_id,
            credentials.digest(tokens.refresh_token),
            now + self._settings.refresh_token_ttl * 1000,
            now,
        )
        return tokens

    # Every other call

    async def authenticate(self, app_key: str | None, access_token: str | None, target_app_id: str | None) -> str:
        """Check the caller's credentials and flow control; answer the app whose resources the call acts on."""
        if not app_key:
            raise PlatformError(E.APP_KEY_MISSING)
        async with self._engine.connect() as conn:
            row = await app_store.get(conn, app_key)
            if (
                row is None
                or not access_token
                or row["access_token_hash"] is None
                or not credentials.matches(access_token, row["access_token_hash"])
                or row["access_expires_at"] <= now_ms()
            ):
                raise PlatformError(E.TOKEN_INVALID)
            limit = self._settings.rate_limit if row["rate_limit"] is None else row["rate_limit"]
            if not self._limiter.allow(app_key, limit, time.time()):
                raise PlatformError(E.THROTTLED)
            if not target_app_id or target_app_id == app_key:
                return app_key
            if await app_store.get(conn, target_app_id) is None:
                raise PlatformError(E.APP_NOT_EXISTED)
            if not await app_store.is_granted(conn, target_app_id, app_key):
                raise PlatformError(E.APP_NOT_AUTHORIZED)
            return target_app_id
