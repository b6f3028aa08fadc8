"""法定检验记录: one row per statutory inspection result of an asset (date, passed, 检验合格证
number and expiry, next due date, agency, who recorded it)

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statutory_inspection_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("asset_code", sa.String(length=64), nullable=False),
        sa.Column("type_id", sa.String(length=64), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("certificate_no", sa.String(length=64), nullable=True),
        sa.Column("certificate_expiry", sa.Date(), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=False),
        sa.Column("agency", sa.String(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_statutory_inspection_record_site_id", "statutory_inspection_record", ["site_id"]
    )
    op.create_index(
        "ix_statutory_record_asset",
        "statutory_inspection_record",
        ["site_id", "asset_code", "type_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_statutory_record_asset", table_name="statutory_inspection_record")
    op.drop_index(
        "ix_statutory_inspection_record_site_id", table_name="statutory_inspection_record"
    )
    op.drop_table("statutory_inspection_record")
