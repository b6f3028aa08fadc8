"""巡更签到: one row per check-in at a patrol point (site, point, person, when, note)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patrol_check_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("point_id", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_check_in")),
    )
    op.create_index("ix_patrol_check_in_site_checked", "patrol_check_in", ["site_id", "checked_at"])


def downgrade() -> None:
    op.drop_index("ix_patrol_check_in_site_checked", table_name="patrol_check_in")
    op.drop_table("patrol_check_in")
