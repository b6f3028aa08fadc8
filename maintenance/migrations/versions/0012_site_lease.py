"""Site leases (站点租约): which maintenance replica runs each site's periodic passes, until
when; and the replicas' heartbeats, from which each takes its fair share of the sites

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_lease",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_lease")),
    )
    op.create_table(
        "maintenance_replica",
        sa.Column("replica_id", sa.String(200), nullable=False),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("replica_id", name=op.f("pk_maintenance_replica")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_replica")
    op.drop_table("site_lease")
