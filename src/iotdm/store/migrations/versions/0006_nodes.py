"""nodes, the device -> node map, applications' MQTT clients (scaling out)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: added in place on both stores, no table rewrite.
    op.add_column("devices", sa.Column("session_node", sa.String(length=32), nullable=True))
    op.add_column("devices", sa.Column("session_id", sa.String(length=32), nullable=True))
    op.create_index("ix_devices_session_node", "devices", ["session_node"])
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_nodes")),
    )
    op.create_table(
        "app_clients",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=256), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.app_id"], name=op.f("fk_app_clients_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", "client_id", name=op.f("pk_app_clients")),
    )
    op.create_index("ix_app_clients_node_id", "app_clients", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_app_clients_node_id", table_name="app_clients")
    op.drop_table("app_clients")
    op.drop_table("nodes")
    op.drop_index("ix_devices_session_node", table_name="devices")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("session_id")
        batch.drop_column("session_node")
