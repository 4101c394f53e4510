"""Applications: operator management, login and token refresh (§1.3), request authentication (G4-G6)."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from iotdm.domain.errors import E, PlatformError
from iotdm.domain.ratelimit import SlidingWindowLimiter
from iotdm.services import credentials
from iotdm.services.clock import now_ms
from iotdm.settings import Settings
from iotdm.store import apps as app_store
from iotdm.store.engine import Database

# How long a token read from the database is trusted without reading it again (seconds).
VERIFIED_FOR = 1.0


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
class _VerifiedCaller:
    """An app's token as last read from the database. Reused for a moment so that a busy app costs no query per
    call; a login on this node forgets it at once, one on another node is seen within VERIFIED_FOR seconds."""

    token_hash: str
    expires_at: int
    rate_limit: int | None
    verified_at: float

    def still_vouches_for(self, token_hash: str) -> bool:
        return (
            hmac.compare_digest(token_hash, self.token_hash)
            and time.monotonic() - self.verified_at < VERIFIED_FOR
            and self.expires_at > now_ms()
        )


@dataclass(frozen=True)
class AppSummary:
    app_id: str
    name: str
    rate_limit: int | None
    authorized_apps: list[str]


class AppService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._limiter = SlidingWindowLimiter()
        self._verified: dict[str, _VerifiedCaller] = {}

    # Operators (CLI and admin API)

    async def create(self, name: str, rate_limit: int | None) -> NewApp:
        app = NewApp(credentials.new_app_id(), credentials.new_secret())
        secret_hash = credentials.digest(app.secret)
        await self._db.write(lambda conn: app_store.insert(conn, app.app_id, name, secret_hash, rate_limit, now_ms()))
        return app

    async def list(self) -> list[AppSummary]:
        def summaries(conn: sa.Connection) -> list[AppSummary]:
            return [
                AppSummary(row["app_id"], row["name"], row["rate_limit"], app_store.grantees(conn, row["app_id"]))
                for row in app_store.list_all(conn)
            ]

        return await self._db.read(summaries)

    async def authorize(self, owner_app_id: str, grantee_app_id: str) -> None:
        """Let ``grantee_app_id`` act on the devices of ``owner_app_id`` through the appId parameter (G5)."""

        def grant(conn: sa.Connection) -> None:
            for app_id in (owner_app_id, grantee_app_id):
                if app_store.get(conn, app_id) is None:
                    raise PlatformError(E.APP_NOT_EXISTED)
            app_store.grant(conn, owner_app_id, grantee_app_id)

        await self._db.write(grant)

    # §1.3 Secure application access

    async def login(self, app_id: str, secret: str) -> Tokens:
        def login(conn: sa.Connection) -> Tokens:
            self._check_secret(conn, app_id, secret)
            return self._issue(conn, app_id)

        return await self._db.write(login)

    async def refresh(self, app_id: str, secret: str, refresh_token: str) -> Tokens:
        def refresh(conn: sa.Connection) -> Tokens:
            self._check_secret(conn, app_id, secret)
            if not app_store.refresh_token_valid(conn, app_id, credentials.digest(refresh_token), now_ms()):
                raise PlatformError(E.INPUT_INVALID_50400)
            return self._issue(conn, app_id)

        return await self._db.write(refresh)

    @staticmethod
    def _check_secret(conn: sa.Connection, app_id: str, secret: str) -> None:
        row = app_store.get(conn, app_id)
        if row is None or not credentials.matches(secret, row["secret_hash"]):
            raise PlatformError(E.APP_SECRET_WRONG)

    def _issue(self, conn: sa.Connection, app_id: str) -> Tokens:
        """A new accessToken replaces every earlier one of the app (§1.3.1 L508, DECISIONS G4)."""
        self._verified.pop(app_id, None)
        now = now_ms()
        tokens = Tokens(credentials.new_token(), credentials.new_token(), self._settings.access_token_ttl)
        access_expiry = now + tokens.expires_in * 1000
        app_store.set_access_token(conn, app_id, credentials.digest(tokens.access_token), access_expiry)
        refresh_expiry = now + self._settings.refresh_token_ttl * 1000
        app_store.add_refresh_token(conn, app_id, credentials.digest(tokens.refresh_token), refresh_expiry, now)
        return tokens

    # Every other call

    async def authenticate(self, app_key: str | None, access_token: str | None, target_app_id: str | None) -> str:
        """Check the caller's credentials and flow control; answer the app whose resources the call acts on."""
        if not app_key:
            raise PlatformError(E.APP_KEY_MISSING)
        if not access_token:
            raise PlatformError(E.TOKEN_INVALID)
        token_hash = credentials.digest(access_token)
        caller = self._verified.get(app_key)
        if caller is None or not caller.still_vouches_for(token_hash):
            caller = await self._verify(app_key, token_hash)
        limit = self._settings.rate_limit if caller.rate_limit is None else caller.rate_limit
        if not self._limiter.allow(app_key, limit, time.time()):
            raise PlatformError(E.THROTTLED)
        if not target_app_id or target_app_id == app_key:
            return app_key
        return await self._db.read(lambda conn: target_app(conn, app_key, target_app_id))

    async def verify_token(self, app_id: str, access_token: str) -> None:
        """The app's current accessToken (apps on the MQTT listener, DECISIONS S5), else PlatformError: 100203 for
        an unknown app, 1010005 for a bad token. No flow control: a connection is not an API call."""
        await self._verify(app_id, credentials.digest(access_token), unknown=E.APP_NOT_EXISTED)

    async def _verify(self, app_id: str, token_hash: str, unknown: E = E.TOKEN_INVALID) -> _VerifiedCaller:
        row = await self._db.read(lambda conn: app_store.get(conn, app_id))
        if row is None:
            raise PlatformError(unknown)
        if (
            row["access_token_hash"] is None
            or not hmac.compare_digest(token_hash, row["access_token_hash"])
            or row["access_expires_at"] <= now_ms()
        ):
            raise PlatformError(E.TOKEN_INVALID)
        caller = _VerifiedCaller(token_hash, row["access_expires_at"], row["rate_limit"], time.monotonic())
        self._verified[app_id] = caller
        return caller


def target_app(conn: sa.Connection, caller: str, app_id: str) -> str:
    """G5: the app a call names with ``appId`` -- the caller itself, or an app that authorized it; else 100203 for an
    unknown app and 100217 for one that did not authorize the caller."""
    if app_id == caller:
        return caller
    if app_store.get(conn, app_id) is None:
        raise PlatformError(E.APP_NOT_EXISTED)
    if not app_store.is_granted(conn, app_id, caller):
        raise PlatformError(E.APP_NOT_AUTHORIZED)
    return app_id
