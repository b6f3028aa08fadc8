"""遥控: the command table (device_command) — every command to a device, who asked, when, the
value, its expiry, state and the gateway's result

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_command",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("asset_code", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("point", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_role", sa.String(20), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("read_back", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_command")),
    )
    op.create_index("ix_device_command_asset", "device_command", ["site_id", "asset_code", "id"])
    op.create_index("ix_device_command_state", "device_command", ["state", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_device_command_state", table_name="device_command")
    op.drop_index("ix_device_command_asset", table_name="device_command")
    op.drop_table("device_command")
