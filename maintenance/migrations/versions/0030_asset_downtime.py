"""资产层级与停机: asset.parent_code (the asset holding it, from the site file's `parent:`) and
asset_downtime (an order's 停机 mark: from its report or arrival to 完成, with a reason)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("asset") as batch:
        batch.add_column(sa.Column("parent_code", sa.String(64), nullable=True))
    op.create_table(
        "asset_downtime",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("asset_code", sa.String(64), nullable=False),
        sa.Column("since", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("marked_by", sa.String(200), nullable=False),
        sa.Column("marked_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_asset_downtime_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_downtime")),
        sa.UniqueConstraint("work_order_id", name=op.f("uq_asset_downtime_work_order_id")),
    )
    op.create_index("ix_asset_downtime_asset", "asset_downtime", ["site_id", "asset_code"])


def downgrade() -> None:
    op.drop_index("ix_asset_downtime_asset", table_name="asset_downtime")
    op.drop_table("asset_downtime")
    with op.batch_alter_table("asset") as batch:
        batch.drop_column("parent_code")
