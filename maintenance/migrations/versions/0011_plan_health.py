"""Plan health (计划运行状态): the error that stopped a plan's last pass, when it was first and
last seen, and how many passes it has failed, one row per plan that has ever failed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan_health",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("plan_code", sa.String(80), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_since", UtcDateTime(), nullable=True),
        sa.Column("error_at", UtcDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_health")),
        sa.UniqueConstraint("site_id", "plan_code", name=op.f("uq_plan_health_site_id")),
    )
    op.create_index(op.f("ix_plan_health_site_id"), "plan_health", ["site_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_plan_health_site_id"), table_name="plan_health")
    op.drop_table("plan_health")
