"""扫码报修: 报修人 rows (the tracking link's token hash, the phone as ciphertext and masked,
the room, the spot and category a duplicate joins by) and the 催单 reminders of each order

Revision ID: 0028
Revises: 0025
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("place_key", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("phone_cipher", sa.Text(), nullable=True),
        sa.Column("phone_masked", sa.String(length=32), nullable=True),
        sa.Column("room", sa.String(length=32), nullable=True),
        sa.Column("joined", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("erased_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_resident_report_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_report")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_resident_report_token_hash")),
    )
    op.create_index("ix_resident_report_work_order_id", "resident_report", ["work_order_id"])
    op.create_index(
        "ix_resident_report_place", "resident_report", ["site_id", "place_key", "category"]
    )
    op.create_table(
        "resident_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_resident_reminder_work_order_id_work_order"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["resident_report.id"],
            name=op.f("fk_resident_reminder_report_id_resident_report"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_reminder")),
    )
    op.create_index("ix_resident_reminder_work_order_id", "resident_reminder", ["work_order_id"])


def downgrade() -> None:
    op.drop_index("ix_resident_reminder_work_order_id", table_name="resident_reminder")
    op.drop_table("resident_reminder")
    op.drop_index("ix_resident_report_place", table_name="resident_report")
    op.drop_index("ix_resident_report_work_order_id", table_name="resident_report")
    op.drop_table("resident_report")
