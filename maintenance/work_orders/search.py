"""工单搜索: `q` over the title, description, code and the ticket system's id of work orders.

`q` is split on white space into at most `MAX_TERMS` words; an order matches when every word is
found, case-insensitively, as a substring of one of those four texts (Chinese has no spaces, so
a substring, not a word, is what a duty room types: 楼道灯 in 3号楼2单元楼道灯不亮).

The same index serves the `tag` filter. It is the database's own, kept by the database itself,
so every writer (the API, the maintenance service, a migration, a plain SQL insert) keeps it
current:

- SQLite: an FTS5 table with the trigram tokenizer, `work_order_search` (rowid = work-order id),
  filled by triggers on `work_order` and `work_order_external_ref`. Its `tags` column holds each
  tag between two `TAG_MARK`s, so a phrase of the mark, the tag and the mark finds exactly that
  tag (not a longer one containing it).
- PostgreSQL: pg_trgm GIN indexes on the same texts, which serve `ILIKE '%word%'`, and a GIN
  index on the tags (`@>`).

Both index words of three characters or more; a shorter word is matched on the rows the list
walks anyway (by site and sort), so it is quick when common and costs a walk of the site's
orders when rare. On PostgreSQL, the letters a trigram counts are those of the database's
`LC_CTYPE`: under a UTF-8 one (`C.UTF-8`, `en_US.UTF-8`, `zh_CN.UTF-8`; the postgres image's
default) Chinese characters are letters and a Chinese word is looked up in the index; under
`C` only ASCII letters and digits are, and a Chinese word is found by scanning every order.

These objects live outside the ORM metadata (a virtual table, triggers, expression indexes):
`is_search_object` tells Alembic's comparison to leave them alone, and `register` adds them to
`create_all()` for throwaway databases. A later migration that rebuilds `work_order` on SQLite
(batch "move and copy") drops the triggers with the old table and must create them again
(`SQLITE_TRIGGERS`); the search tests run on a migrated database and would show it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, MetaData, event

MAX_TERMS = 5
INDEXED_LENGTH = 3
"""Words at least this long are looked up in the index (a trigram is three characters)."""
TAG_MARK = "\x1e"
"""Around each tag in the SQLite index (the record separator, which no tag may hold)."""
WALK_FROM = 1000
"""A search asks the index first for at most this many orders (the tags and words of SQLite's
MATCH; on PostgreSQL the longest word). Found no more, they are fetched by id and sorted;
found more, the list walks its own index in the sort's order, keeps the rows that match and
stops after a page, which for a word that common is sooner. At 100,000 orders either way costs
a few milliseconds at this bound (`bench/api_work_orders.py --search`)."""

SQLITE_TABLE = "work_order_search"
SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS work_order_search "
    "USING fts5(title, description, code, external_id, tags, tokenize='trigram')"
)
_TAGS_OF_NEW = (
    "coalesce((SELECT char(30) || group_concat(value, char(30)) || char(30) "
    "FROM json_each(new.tags)), '')"
)
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS work_order_search_insert AFTER INSERT ON work_order BEGIN
  INSERT INTO work_order_search(rowid, title, description, code, external_id, tags)
  VALUES (new.id, new.title, new.description, coalesce(new.code, ''), '', {_TAGS_OF_NEW});
END""",
    f"""CREATE TRIGGER IF NOT EXISTS work_order_search_update
AFTER UPDATE OF title, description, code, tags ON work_order BEGIN
  UPDATE work_order_search
  SET title = new.title, description = new.description, code = coalesce(new.code, ''),
    tags = {_TAGS_OF_NEW}
  WHERE rowid = new.id;
END""",
    """CREATE TRIGGER IF NOT EXISTS work_order_search_delete AFTER DELETE ON work_order BEGIN
  DELETE FROM work_order_search WHERE rowid = old.id;
END""",
    """CREATE TRIGGER IF NOT EXISTS work_order_search_ref_insert
AFTER INSERT ON work_order_external_ref BEGIN
  UPDATE work_order_search SET external_id = new.external_id WHERE rowid = new.work_order_id;
END""",
    """CREATE TRIGGER IF NOT EXISTS work_order_search_ref_update
AFTER UPDATE OF external_id, work_order_id ON work_order_external_ref BEGIN
  UPDATE work_order_search SET external_id = '' WHERE rowid = old.work_order_id;
  UPDATE work_order_search SET external_id = new.external_id WHERE rowid = new.work_order_id;
END""",
    """CREATE TRIGGER IF NOT EXISTS work_order_search_ref_delete
AFTER DELETE ON work_order_external_ref BEGIN
  UPDATE work_order_search SET external_id = '' WHERE rowid = old.work_order_id;
END""",
)


def postgresql_text(table: str = "") -> str:
    """The indexed text of an order; a query must spell the same expression to use the index."""
    t = f"{table}." if table else ""
    return f"({t}title || ' ' || {t}description || ' ' || coalesce({t}code, ''))"


POSTGRESQL_TEXT = postgresql_text()
POSTGRESQL_CREATE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS ix_work_order_search ON work_order "
    f"USING gin ({POSTGRESQL_TEXT} gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_work_order_search_external ON work_order_external_ref "
    "USING gin (external_id gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_work_order_search_tags ON work_order "
    "USING gin (tags jsonb_path_ops)",
)


def is_search_object(name: str | None, type_: str, parent_names: object = None) -> bool:
    """True for the search index's own tables and indexes (Alembic `include_name` says False)."""
    if name is None:
        return False
    return name.startswith(SQLITE_TABLE) or name.startswith("ix_work_order_search")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """For Alembic's `include_name`: compare everything but the search index."""
    return not is_search_object(name, type_, parent_names)


def terms(q: str) -> list[str]:
    """The words of `q` (at most `MAX_TERMS`, duplicates dropped, case kept)."""
    return list(dict.fromkeys(q.split()))[:MAX_TERMS]


def like_pattern(term: str) -> str:
    """`%term%` with LIKE's wildcards escaped (ESCAPE '\\')."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def prefix_pattern(term: str) -> str:
    """`term%` with LIKE's wildcards escaped (ESCAPE '\\')."""
    return like_pattern(term)[1:]


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def fts_query(words: list[str], tags: list[str]) -> str:
    """An FTS5 MATCH of every word (a substring of one of the four texts, with the trigram
    tokenizer) and every tag (exactly, between its marks)."""
    parts = []
    if words:
        found = " AND ".join(_phrase(w) for w in words)
        parts.append(f"{{title description code external_id}} : ({found})")
    if tags:
        carried = " AND ".join(_phrase(TAG_MARK + t + TAG_MARK) for t in tags)
        parts.append(f"tags : ({carried})")
    return " AND ".join(parts)


def create(connection: Connection) -> None:
    """Create the search index on this connection's database (`IF NOT EXISTS`: idempotent)."""
    if connection.dialect.name == "sqlite":
        for statement in (SQLITE_CREATE, *SQLITE_TRIGGERS):
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        for statement in POSTGRESQL_CREATE:
            connection.exec_driver_sql(statement)


def _after_create(target: MetaData, connection: Connection, **kw: Any) -> None:
    create(connection)


def _after_drop(target: MetaData, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")


def register(metadata: MetaData) -> None:
    """Create the search index with `metadata.create_all()` (the migrations create their own)."""
    event.listen(metadata, "after_create", _after_create)
    event.listen(metadata, "after_drop", _after_drop)
