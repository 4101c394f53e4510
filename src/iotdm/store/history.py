"""Queries on device data history (§1.5.3) and shadow desired history (§1.5.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from iotdm.store.schema import data_history, desired_history, devices


@dataclass(frozen=True)
class HistoryFilter:
    """The filters of §1.5.3/§1.5.4; None means "not filtered". Rows are always those of ``app_id``."""

    app_id: str
    device_id: str | None = None
    gateway_id: str | None = None
    service_id: str | None = None
    property: str | None = None  # rows whose JSON object (data / desired) has this top-level key
    from_ms: int | None = None  # inclusive
    before_ms: int | None = None  # exclusive


def _has_key(column: sa.Column[object], key: str) -> sa.ColumnElement[bool]:
    """``column`` (a JSON object) has the top-level ``key``, whatever its value (null included).

    ``json_each`` exists with the same columns in SQLite and in PostgreSQL (for ``json``, which sa.JSON is
    there), so one statement serves both; the key is a bound parameter, so any character in it is safe.
    """
    entries = sa.func.json_each(column).table_valued("key").alias("entries")
    return sa.exists().where(entries.c.key == key)


def _where(table: sa.Table, json_column: str, f: HistoryFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = [table.c.app_id == f.app_id]
    exact = {table.c.device_id: f.device_id, table.c.gateway_id: f.gateway_id, table.c.service_id: f.service_id}
    clauses.extend(column == value for column, value in exact.items() if value is not None)
    if f.device_id is None and f.gateway_id is not None:
        # The devices under the gateway lead to their rows through the device index: an index on the history's
        # gateway column would cost every report an index update for the rare query by gateway alone.
        under = sa.select(devices.c.device_id).where(devices.c.gateway_id == f.gateway_id)
        clauses.append(table.c.device_id.in_(under))
    if f.from_ms is not None:
        clauses.append(table.c.timestamp >= f.from_ms)
    if f.before_ms is not None:
        clauses.append(table.c.timestamp < f.before_ms)
    if f.property is not None:
        clauses.append(_has_key(table.c[json_column], f.property))
    return clauses


def _count(conn: sa.Connection, table: sa.Table, json_column: str, f: HistoryFilter) -> int:
    result = conn.execute(sa.select(sa.func.count()).select_from(table).where(*_where(table, json_column, f)))
    return int(result.scalar_one())


def _page(
    conn: sa.Connection, table: sa.Table, json_column: str, f: HistoryFilter, offset: int, limit: int
) -> Sequence[sa.RowMapping]:
    """Newest first; rows of the same millisecond by id, newest first, so paging is stable."""
    query = (
        sa.select(
            table.c.service_id,
            table.c.device_id,
            table.c.gateway_id,
            table.c.app_id,
            table.c[json_column],
            table.c.timestamp,
        )
        .where(*_where(table, json_column, f))
        .order_by(table.c.timestamp.desc(), table.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return conn.execute(query).mappings().all()


def count_data(conn: sa.Connection, f: HistoryFilter) -> int:
    return _count(conn, data_history, "data", f)


def page_data(conn: sa.Connection, f: HistoryFilter, offset: int, limit: int) -> Sequence[sa.RowMapping]:
    return _page(conn, data_history, "data", f, offset, limit)


def count_desired(conn: sa.Connection, f: HistoryFilter) -> int:
    return _count(conn, desired_history, "desired", f)


def page_desired(conn: sa.Connection, f: HistoryFilter, offset: int, limit: int) -> Sequence[sa.RowMapping]:
    return _page(conn, desired_history, "desired", f, offset, limit)
