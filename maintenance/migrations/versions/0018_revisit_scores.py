"""回访评价: one row per revisit of a work order with the three scores (响应速度, 维修质量,
服务态度, 1–5), the comment, how it was made and what it led to; orders revisited before the
table existed get a row each (their revisit, without scores)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order_revisit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=True),
        sa.Column("response", sa.Integer(), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("attitude", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("follow_up_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "response BETWEEN 1 AND 5", name=op.f("ck_work_order_revisit_response_1_to_5")
        ),
        sa.CheckConstraint(
            "quality BETWEEN 1 AND 5", name=op.f("ck_work_order_revisit_quality_1_to_5")
        ),
        sa.CheckConstraint(
            "attitude BETWEEN 1 AND 5", name=op.f("ck_work_order_revisit_attitude_1_to_5")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_revisit_work_order_id_work_order"),
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_revisit_follow_up_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_revisit")),
        sa.UniqueConstraint(
            "work_order_id", "round", name=op.f("uq_work_order_revisit_work_order_id")
        ),
    )
    op.create_index("ix_work_order_revisit_work_order_id", "work_order_revisit", ["work_order_id"])
    op.create_index("ix_work_order_revisit_site_at", "work_order_revisit", ["site_id", "at"])
    # the revisits already made: who made each is the last 回访 step's actor
    op.execute(
        """
        INSERT INTO work_order_revisit
            (work_order_id, site_id, round, at, due_at, actor, comment, outcome)
        SELECT w.id, w.site_id, w.reopen_count, w.revisited_at, w.revisit_due,
               COALESCE((SELECT t.actor FROM work_order_transition t
                         WHERE t.work_order_id = w.id AND t.to_status = 'revisited'
                         ORDER BY t.id DESC LIMIT 1), 'system'),
               '', 'closed'
        FROM work_order w
        WHERE w.revisited_at IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_revisit_site_at", table_name="work_order_revisit")
    op.drop_index("ix_work_order_revisit_work_order_id", table_name="work_order_revisit")
    op.drop_table("work_order_revisit")
