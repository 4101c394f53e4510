"""profiles: product models (DECISIONS D6)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("manufacturer_id", sa.String(length=256), nullable=False),
        sa.Column("manufacturer_name", sa.String(length=256), nullable=False),
        sa.Column("device_type", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("protocol_type", sa.String(length=256), nullable=False),
        sa.Column("product_id", sa.String(length=256), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint(
            "manufacturer_id",
            "manufacturer_name",
            "device_type",
            "model",
            "protocol_type",
            name=op.f("uq_profiles_key"),
        ),
        sa.UniqueConstraint("product_id", name=op.f("uq_profiles_product_id")),
    )


def downgrade() -> None:
    op.drop_table("profiles")
