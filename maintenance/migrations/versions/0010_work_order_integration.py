"""What a ticket system edits and searches on a work order: location (位置), tags (标签) and the
site's custom fields (自定义字段); indexes for `updated_since` and for the `q` search and the tag
filter (SQLite FTS5 trigram table kept by triggers, PostgreSQL pg_trgm and jsonb GIN indexes)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The search objects as this revision made them (`maintenance.work_orders.search` holds the
# current ones for `create_all()`; a migration keeps its own copy so it never changes).
_TAGS_OF_NEW = (
    "coalesce((SELECT char(30) || group_concat(value, char(30)) || char(30) "
    "FROM json_each(new.tags)), '')"
)
SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE work_order_search "
    "USING fts5(title, description, code, external_id, tags, tokenize='trigram')",
    f"""CREATE TRIGGER work_order_search_insert AFTER INSERT ON work_order BEGIN
  INSERT INTO work_order_search(rowid, title, description, code, external_id, tags)
  VALUES (new.id, new.title, new.description, coalesce(new.code, ''), '', {_TAGS_OF_NEW});
END""",
    f"""CREATE TRIGGER work_order_search_update
AFTER UPDATE OF title, description, code, tags ON work_order BEGIN
  UPDATE work_order_search
  SET title = new.title, description = new.description, code = coalesce(new.code, ''),
    tags = {_TAGS_OF_NEW}
  WHERE rowid = new.id;
END""",
    """CREATE TRIGGER work_order_search_delete AFTER DELETE ON work_order BEGIN
  DELETE FROM work_order_search WHERE rowid = old.id;
END""",
    """CREATE TRIGGER work_order_search_ref_insert
AFTER INSERT ON work_order_external_ref BEGIN
  UPDATE work_order_search SET external_id = new.external_id WHERE rowid = new.work_order_id;
END""",
    """CREATE TRIGGER work_order_search_ref_update
AFTER UPDATE OF external_id, work_order_id ON work_order_external_ref BEGIN
  UPDATE work_order_search SET external_id = '' WHERE rowid = old.work_order_id;
  UPDATE work_order_search SET external_id = new.external_id WHERE rowid = new.work_order_id;
END""",
    """CREATE TRIGGER work_order_search_ref_delete
AFTER DELETE ON work_order_external_ref BEGIN
  UPDATE work_order_search SET external_id = '' WHERE rowid = old.work_order_id;
END""",
    # the orders already there (their tags are the new column's empty default)
    "INSERT INTO work_order_search(rowid, title, description, code, external_id, tags) "
    "SELECT w.id, w.title, w.description, coalesce(w.code, ''), coalesce(r.external_id, ''), '' "
    "FROM work_order w LEFT JOIN work_order_external_ref r ON r.work_order_id = w.id",
)
SQLITE_TRIGGERS = (
    "work_order_search_insert",
    "work_order_search_update",
    "work_order_search_delete",
    "work_order_search_ref_insert",
    "work_order_search_ref_update",
    "work_order_search_ref_delete",
)
POSTGRESQL_SEARCH = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_work_order_search ON work_order "
    "USING gin ((title || ' ' || description || ' ' || coalesce(code, '')) gin_trgm_ops)",
    "CREATE INDEX ix_work_order_search_external ON work_order_external_ref "
    "USING gin (external_id gin_trgm_ops)",
    "CREATE INDEX ix_work_order_search_tags ON work_order USING gin (tags jsonb_path_ops)",
)


def upgrade() -> None:
    tags = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("work_order") as t:
        t.add_column(sa.Column("location", sa.String(300), nullable=True))
        t.add_column(sa.Column("tags", tags, nullable=False, server_default="[]"))
        t.add_column(sa.Column("custom_fields", sa.JSON(), nullable=False, server_default="{}"))
    op.create_index("ix_work_order_list_updated", "work_order", ["site_id", "updated_at", "id"])
    op.create_index("ix_work_order_list_every_site_updated", "work_order", ["updated_at", "id"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_SEARCH if dialect == "sqlite" else POSTGRESQL_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS work_order_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_work_order_search_tags")
        op.execute("DROP INDEX IF EXISTS ix_work_order_search_external")
        op.execute("DROP INDEX IF EXISTS ix_work_order_search")
    op.drop_index("ix_work_order_list_every_site_updated", table_name="work_order")
    op.drop_index("ix_work_order_list_updated", table_name="work_order")
    with op.batch_alter_table("work_order") as t:
        t.drop_column("custom_fields")
        t.drop_column("tags")
        t.drop_column("location")
