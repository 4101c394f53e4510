"""INSERT ... ON CONFLICT for both stores: "insert unless taken" and "insert or replace" as single statements, so
two concurrent writers cannot both pass a check and then collide; both dialects spell it the same way."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` that can take ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
