"""The database: engines, transactions, and bringing the schema up to date.

Store functions are plain synchronous SQLAlchemy Core code taking a ``sa.Connection``; services run them in a
transaction with ``await db.write(fn)`` / ``await db.read(fn)``:

- PostgreSQL: on asyncpg, through ``AsyncConnection.run_sync`` (SQLAlchemy's greenlet bridge), so the event
  loop never blocks on the network.
- SQLite: inline on the event loop with the standard sqlite3 driver. A query on a local file takes a few
  microseconds, while aiosqlite hands every statement to a worker thread and back (measured here: about 4x
  slower per query), which would make the thread hop the cost of every request.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")

_MIGRATIONS = Path(__file__).with_name("migrations")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._sync: sa.Engine | None = None
        self._async: AsyncEngine | None = None
        if url.startswith("sqlite"):
            # One connection: SQLite has a single writer, and a second one would only meet "database is locked"
            # where one connection simply queues.
            self._sync = sa.create_engine(
                url.replace("+aiosqlite", ""),
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                pool_size=1,
                max_overflow=0,
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)
        else:
            self._async = create_async_engine(
                url, json_serializer=_json_dumps, json_deserializer=orjson.loads, pool_size=10, max_overflow=10
            )

    async def read(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` on a connection; nothing it does is committed."""
        if self._sync is not None:
            with self._sync.connect() as conn:
                return fn(conn)
        assert self._async is not None
        async with self._async.connect() as aconn:
            return await aconn.run_sync(fn)

    async def write(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in a transaction: committed when it returns, rolled back when it raises."""
        if self._sync is not None:
            with self._sync.begin() as conn:
                return fn(conn)
        assert self._async is not None
        async with self._async.begin() as aconn:
            return await aconn.run_sync(fn)

    async def migrate(self) -> None:
        """Upgrade the schema to the newest migration (idempotent; safe on every start)."""

        def upgrade(connection: sa.Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

        await self.write(upgrade)

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()
        if self._async is not None:
            await self._async.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Device ingest touches the same index pages batch after batch: a 64 MiB page cache (default 2 MiB) keeps
    # them in memory.
    cursor.execute("PRAGMA cache_size=-65536")
    # Other processes (operator commands) write only briefly; waiting blocks the loop, so keep it short.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config
