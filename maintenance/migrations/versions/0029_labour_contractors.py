"""人工与费用: manual labour entries, extra costs and 有偿维修 on work orders (contractors and
contracts are site-file data and need no table)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order_labour",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "minutes > 0 AND minutes <= 1440", name=op.f("ck_work_order_labour_minutes")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_labour_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_labour")),
    )
    op.create_index(
        op.f("ix_work_order_labour_work_order_id"),
        "work_order_labour",
        ["work_order_id"],
        unique=False,
    )
    op.create_table(
        "work_order_extra_cost",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_work_order_extra_cost_amount")),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_extra_cost_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_extra_cost")),
    )
    op.create_index(
        op.f("ix_work_order_extra_cost_work_order_id"),
        "work_order_extra_cost",
        ["work_order_id"],
        unique=False,
    )
    op.create_table(
        "work_order_paid_repair",
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("quoted_fen", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("quoted_fen >= 0", name=op.f("ck_work_order_paid_repair_quoted")),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_paid_repair_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_work_order_paid_repair")),
    )


def downgrade() -> None:
    op.drop_table("work_order_paid_repair")
    op.drop_index(
        op.f("ix_work_order_extra_cost_work_order_id"), table_name="work_order_extra_cost"
    )
    op.drop_table("work_order_extra_cost")
    op.drop_index(op.f("ix_work_order_labour_work_order_id"), table_name="work_order_labour")
    op.drop_table("work_order_labour")
