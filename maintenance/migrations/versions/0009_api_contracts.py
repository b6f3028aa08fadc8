"""What an integrator leans on: idempotency keys claimed before the work and expiring, token
expiry, webhook secret rotation with an overlap window

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_idempotency") as t:
        t.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="done"))
        t.add_column(sa.Column("locked_until", UtcDateTime(), nullable=True))
        t.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
        t.alter_column("status_code", existing_type=sa.Integer(), nullable=True)
        t.alter_column("body", existing_type=sa.Text(), nullable=True)
    op.create_index(op.f("ix_api_idempotency_expires_at"), "api_idempotency", ["expires_at"])
    with op.batch_alter_table("api_token") as t:
        t.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("webhook_subscription") as t:
        t.add_column(sa.Column("previous_secret", sa.String(200), nullable=True))
        t.add_column(sa.Column("previous_secret_until", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as t:
        t.drop_column("previous_secret_until")
        t.drop_column("previous_secret")
    with op.batch_alter_table("api_token") as t:
        t.drop_column("expires_at")
    op.drop_index(op.f("ix_api_idempotency_expires_at"), table_name="api_idempotency")
    with op.batch_alter_table("api_idempotency") as t:
        t.alter_column("body", existing_type=sa.Text(), nullable=False)
        t.alter_column("status_code", existing_type=sa.Integer(), nullable=False)
        t.drop_column("expires_at")
        t.drop_column("locked_until")
        t.drop_column("state")
