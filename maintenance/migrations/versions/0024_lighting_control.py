"""照明定时控制: commands issued by a site's lighting schedule carry the switching they make
(schedule_key, unique per site, so each switching is one command across restarts and replicas)
and the time it was due

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_command") as batch:
        batch.add_column(sa.Column("schedule_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("scheduled_at", UtcDateTime(), nullable=True))
    op.create_index(
        "uq_device_command_schedule",
        "device_command",
        ["site_id", "schedule_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_device_command_schedule", table_name="device_command")
    with op.batch_alter_table("device_command") as batch:
        batch.drop_column("scheduled_at")
        batch.drop_column("schedule_key")
