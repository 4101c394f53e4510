"""data history: every accepted device report

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=256), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_history")),
    )
    op.create_index("ix_data_history_device_ts", "data_history", ["device_id", "timestamp"])
    op.create_index("ix_data_history_gateway_ts", "data_history", ["gateway_id", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_data_history_gateway_ts", table_name="data_history")
    op.drop_index("ix_data_history_device_ts", table_name="data_history")
    op.drop_table("data_history")
