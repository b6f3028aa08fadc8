"""Alarm states as ISA-18.2 has them and the alarm journal: who cleared an alarm (the gateway or
reconciliation), stale while its device is offline, late, suppressed by design, taken out of
service; assets out of service; every state change of every alarm in `alarm_journal`

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alarm") as t:
        t.add_column(sa.Column("cleared_by", sa.String(16), nullable=True))
        t.add_column(sa.Column("stale", sa.Boolean(), nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("suppressed_reason", sa.String(200), nullable=True))
        t.add_column(sa.Column("out_of_service_by", sa.String(64), nullable=True))
        t.add_column(sa.Column("out_of_service_at", UtcDateTime(), nullable=True))
        t.add_column(sa.Column("out_of_service_reason", sa.String(300), nullable=True))
    # Alarms the duty room must still see: open ones, and cleared ones nobody acknowledged.
    op.create_index("ix_alarm_site_open", "alarm", ["site_id", "cleared_at", "acknowledged_at"])
    # The alarm-system KPIs read windows of raise times per site (/metrics, the monthly report).
    op.create_index("ix_alarm_site_raised", "alarm", ["site_id", "raised_at"])
    with op.batch_alter_table("asset") as t:
        t.add_column(sa.Column("out_of_service_since", UtcDateTime(), nullable=True))
        t.add_column(sa.Column("out_of_service_by", sa.String(64), nullable=True))
        t.add_column(sa.Column("out_of_service_reason", sa.String(300), nullable=True))
    op.create_table(
        "alarm_journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("asset_code", sa.String(64), nullable=False),
        sa.Column("alarm_type", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.id"], name=op.f("fk_alarm_journal_alarm_id_alarm")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_journal")),
    )
    op.create_index(op.f("ix_alarm_journal_alarm_id"), "alarm_journal", ["alarm_id"])
    op.create_index("ix_alarm_journal_site_at", "alarm_journal", ["site_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("ix_alarm_journal_site_at", table_name="alarm_journal")
    op.drop_index(op.f("ix_alarm_journal_alarm_id"), table_name="alarm_journal")
    op.drop_table("alarm_journal")
    with op.batch_alter_table("asset") as t:
        t.drop_column("out_of_service_reason")
        t.drop_column("out_of_service_by")
        t.drop_column("out_of_service_since")
    op.drop_index("ix_alarm_site_raised", table_name="alarm")
    op.drop_index("ix_alarm_site_open", table_name="alarm")
    with op.batch_alter_table("alarm") as t:
        for column in (
            "out_of_service_reason",
            "out_of_service_at",
            "out_of_service_by",
            "suppressed_reason",
            "late",
            "stale",
            "cleared_by",
        ):
            t.drop_column(column)
