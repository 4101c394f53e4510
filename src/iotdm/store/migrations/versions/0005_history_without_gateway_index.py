"""data history: drop the gateway index (queries by gateway go through the devices under it)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_data_history_gateway_ts", table_name="data_history")


def downgrade() -> None:
    op.create_index("ix_data_history_gateway_ts", "data_history", ["gateway_id", "timestamp"])
