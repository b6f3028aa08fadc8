"""Dead letters (死信): event messages the consumer rejected or failed to apply, kept with topic,
reason and bytes before they are acknowledged, one row per distinct message

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
        sa.UniqueConstraint("digest", name=op.f("uq_dead_letter_digest")),
    )
    op.create_index("ix_dead_letter_site_received", "dead_letter", ["site_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_dead_letter_site_received", table_name="dead_letter")
    op.drop_table("dead_letter")
