"""备品备件: stores (仓库), the parts catalogue, stock per store with its reorder level, parts on
work orders, the audited stock movements (库存流水) and stock counts (盘点)

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parts_store",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parts_store")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_parts_store_site_id")),
    )
    op.create_table(
        "part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_part_site_id")),
    )
    op.create_table(
        "part_stock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("on_hand_milli", sa.Integer(), nullable=False),
        sa.Column("reserved_milli", sa.Integer(), nullable=False),
        sa.Column("minimum_milli", sa.Integer(), nullable=False),
        sa.Column("low_alerted", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "reserved_milli >= 0 AND on_hand_milli >= reserved_milli AND minimum_milli >= 0",
            name=op.f("ck_part_stock_covered"),
        ),
        sa.ForeignKeyConstraint(["part_id"], ["part.id"], name=op.f("fk_part_stock_part_id_part")),
        sa.ForeignKeyConstraint(
            ["store_id"], ["parts_store.id"], name=op.f("fk_part_stock_store_id_parts_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_stock")),
        sa.UniqueConstraint("part_id", "store_id", name=op.f("uq_part_stock_part_id")),
    )
    op.create_index(op.f("ix_part_stock_store_id"), "part_stock", ["store_id"], unique=False)
    op.create_table(
        "stock_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("counted_by", sa.String(length=64), nullable=False),
        sa.Column("counted_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["parts_store.id"], name=op.f("fk_stock_count_store_id_parts_store")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_count")),
    )
    op.create_index(op.f("ix_stock_count_site_id"), "stock_count", ["site_id"], unique=False)
    op.create_table(
        "work_order_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("stock_id", sa.Integer(), nullable=False),
        sa.Column("quantity_milli", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("quantity_milli > 0", name=op.f("ck_work_order_part_positive")),
        sa.ForeignKeyConstraint(
            ["stock_id"], ["part_stock.id"], name=op.f("fk_work_order_part_stock_id_part_stock")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_part_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_part")),
    )
    op.create_index(
        op.f("ix_work_order_part_work_order_id"), "work_order_part", ["work_order_id"], unique=False
    )
    op.create_table(
        "part_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("stock_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity_milli", sa.Integer(), nullable=False),
        sa.Column("on_hand_after_milli", sa.Integer(), nullable=False),
        sa.Column("reserved_after_milli", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("count_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["count_id"], ["stock_count.id"], name=op.f("fk_part_movement_count_id_stock_count")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["work_order_part.id"],
            name=op.f("fk_part_movement_line_id_work_order_part"),
        ),
        sa.ForeignKeyConstraint(
            ["stock_id"], ["part_stock.id"], name=op.f("fk_part_movement_stock_id_part_stock")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_part_movement_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_movement")),
    )
    op.create_index("ix_part_movement_stock", "part_movement", ["stock_id", "id"], unique=False)
    op.create_index(
        op.f("ix_part_movement_work_order_id"), "part_movement", ["work_order_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_part_movement_work_order_id"), table_name="part_movement")
    op.drop_index("ix_part_movement_stock", table_name="part_movement")
    op.drop_table("part_movement")
    op.drop_index(op.f("ix_work_order_part_work_order_id"), table_name="work_order_part")
    op.drop_table("work_order_part")
    op.drop_index(op.f("ix_stock_count_site_id"), table_name="stock_count")
    op.drop_table("stock_count")
    op.drop_index(op.f("ix_part_stock_store_id"), table_name="part_stock")
    op.drop_table("part_stock")
    op.drop_table("part")
    op.drop_table("parts_store")
