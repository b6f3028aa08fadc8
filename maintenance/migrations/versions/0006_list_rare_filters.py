"""Work-order list indexes for a filter on category, source or zone: one per sort (newest or
oldest first, by resolve due time, by priority), each leading with the site and the filter, so
a filter that matches few orders finds them at once instead of walking every order of the site

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERS = (("category", "category"), ("source", "source"), ("zone", "zone_code"))
SORTS = (("", "reported_at"), ("_due", "resolve_due"), ("_priority", "priority"))


def upgrade() -> None:
    for name, column in FILTERS:
        for suffix, key in SORTS:
            op.create_index(
                f"ix_work_order_list_{name}{suffix}",
                "work_order",
                ["site_id", column, key, "id"],
                unique=False,
            )


def downgrade() -> None:
    for name, _ in reversed(FILTERS):
        for suffix, _ in reversed(SORTS):
            op.drop_index(f"ix_work_order_list_{name}{suffix}", table_name="work_order")
