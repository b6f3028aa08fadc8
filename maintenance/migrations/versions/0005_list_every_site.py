"""Work-order list indexes for tokens of every site: newest first and by resolve due time
without a site, so such a list walks an index instead of sorting every order

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_work_order_list_every_site", "work_order", ["reported_at", "id"], unique=False
    )
    op.create_index(
        "ix_work_order_list_every_site_due", "work_order", ["resolve_due", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_list_every_site_due", table_name="work_order")
    op.drop_index("ix_work_order_list_every_site", table_name="work_order")
