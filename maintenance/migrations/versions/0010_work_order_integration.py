"""What a ticket system edits and searches on a work order: location (位置), tags (标签) and the
site's custom fields (自定义字段), comments (评论) as their own rows, and search indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_order") as t:
        t.add_column(sa.Column("location", sa.String(300), nullable=True))
        t.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        t.add_column(sa.Column("custom_fields", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("work_order") as t:
        t.drop_column("custom_fields")
        t.drop_column("tags")
        t.drop_column("location")
