from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from iotdm.store.engine import alembic_config
from iotdm.store.schema import metadata


def test_migrations_build_exactly_the_schema(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()
