"""plans: API-managed plans and per-plan materialization cursors

`plan` holds plans added through the API (site-file plans are read from the file);
`plan_cursor` records how far each plan (or each asset of a meter plan) has been materialized.
Occurrences themselves are work orders, unique on `source_key`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maintenance.db

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_plan_site_id")),
    )
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_site_id"), ["site_id"], unique=False)

    op.create_table(
        "plan_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=80), nullable=False),
        sa.Column("asset_code", sa.String(length=64), nullable=False),
        sa.Column("through", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("meter_threshold", sa.Float(), nullable=True),
        sa.Column("updated_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_cursor")),
        sa.UniqueConstraint(
            "site_id", "plan_code", "asset_code", name=op.f("uq_plan_cursor_site_id")
        ),
    )
    with op.batch_alter_table("plan_cursor", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_cursor_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("plan_cursor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_cursor_site_id"))
    op.drop_table("plan_cursor")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_site_id"))
    op.drop_table("plan")
