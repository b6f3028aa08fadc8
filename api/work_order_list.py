"""工单列表: the filtered, sorted, cursor-paged work-order list, quick at 100,000 orders.

A request names a *shape* (which filters it uses, the sort, whether it continues from a cursor);
each shape's statement is built once and kept, with its values as bound parameters, so a request
neither rebuilds SQL expressions nor recomputes SQLAlchemy's cache key. A page is one query (the
asset and the ticket system's id are joined by key) whose rows become `WorkOrderPage` JSON
directly: the rows already hold the schema's fields, and building ORM objects and pydantic
models for them cost more than the query. `bench/api_work_orders.py` measures it.

Every sort walks an index in order and stops after a page (keyset pagination, no OFFSET):
`ix_work_order_list_{site,status,assignee,due,updated}` within a site,
`ix_work_order_list_every_site*` for a token of every site, the primary key for one priority at
a time. `reported_from`/`reported_to` bound the walk of the `reported_at` sorts, and
`updated_since` that of `sort=updated_at` (a ticket system's sync). A filter on category,
source or zone has an index per sort of its own (`ix_work_order_list_{category,source,zone}`,
`..._due`, `..._priority`), so one that matches few orders does not walk every order of the site
past them. Other combinations skip the rows that do not match on the way, so they cost in
proportion to how rare their matches are. So do the tags and `q`'s short words; `q`'s words of
three characters or more are looked up in the search index first (`maintenance.work_orders.
search`), and the list keeps the orders found.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from fastapi import HTTPException
from pydantic_core import to_json
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Row,
    Select,
    String,
    TextClause,
    and_,
    bindparam,
    cast,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import aliased

from api.models import ExternalRef
from maintenance.registry.models import Asset
from maintenance.work_orders import search
from maintenance.work_orders.models import STATUS_ZH, WorkOrder
from propwatch.site import PRIORITY_ZH, Priority


class SortKey(StrEnum):
    NEWEST = "-reported_at"
    OLDEST = "reported_at"
    RESOLVE_DUE = "resolve_due"  # only orders with a resolve limit, soonest first
    PRIORITY = "priority"  # emergency, important, general; the latest created first within each
    UPDATED = "updated_at"  # the least recently changed first: a sync pages through changes


PRIORITY_ORDER = (Priority.EMERGENCY.value, Priority.IMPORTANT.value, Priority.GENERAL.value)

ListQuery = Select[*tuple[Any, ...]]
ListRow = Row[*tuple[Any, ...]]


@dataclass(frozen=True)
class ListFilter:
    """What the caller asked for and may see; None leaves a field unfiltered."""

    site_id: str | None = None
    sites: tuple[str, ...] | None = None  # the token's sites, when site_id is not given
    person: str | None = None  # a technician sees only their own tasks
    statuses: tuple[str, ...] = ()
    priority: str | None = None
    category: str | None = None
    source: str | None = None
    assignee: str | None = None
    zone: str | None = None
    building: str | None = None
    asset: str | None = None
    external_id: str | None = None
    q: tuple[str, ...] = ()  # the words of `q` (`search.terms`)
    tags: tuple[str, ...] = ()  # every one of them
    updated_since: datetime | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None

    def params(self, dialect: str = "sqlite") -> dict[str, Any]:
        p: dict[str, Any] = {}
        if self.site_id is not None:
            p["site_id"] = self.site_id
        elif self.sites is not None:
            p["sites"] = list(self.sites)
        if self.person is not None:
            p["person"] = self.person
        if self.statuses:
            p["statuses"] = list(self.statuses)
        for name in ("priority", "category", "source", "assignee", "zone", "asset", "external_id"):
            value = getattr(self, name)
            if value is not None:
                p[name] = value
        if self.building is not None:
            p["building"] = self.building
            p["building_prefix"] = search.prefix_pattern(self.building)
        for name in ("updated_since", "reported_from", "reported_to"):
            value = getattr(self, name)
            if value is not None:
                p[name] = value
        indexed = [t for t in self.q if len(t) >= search.INDEXED_LENGTH]
        if dialect == "sqlite":
            # the indexed words and the tags in one MATCH; the short words on the rows
            if indexed or self.tags:
                p["q_fts"] = search.fts_query(indexed, list(self.tags))
            words = [t for t in self.q if len(t) < search.INDEXED_LENGTH]
        else:
            # every word on the rows; the longest indexed one probes the trigram index first
            if indexed:
                p["q_probe"] = search.like_pattern(max(indexed, key=len))
            if self.tags:
                p["tags"] = json.dumps(list(self.tags), ensure_ascii=False)
            words = list(self.q)
        p.update({f"q_like{i}": search.like_pattern(t) for i, t in enumerate(words)})
        return p


@dataclass(frozen=True)
class Position:
    """Where a cursor left off: the sort value of the last row shown, and its id."""

    value: datetime | str
    id: int


_W = WorkOrder
_ASSET_BY_CODE = aliased(Asset)
_REF_BY_ID = aliased(ExternalRef)

_COLUMNS = (
    _W.id,
    _W.code,
    _W.site_id,
    _W.source,
    _W.status,
    Asset.code,
    Asset.name,
    _W.category,
    _W.priority,
    _W.title,
    _W.description,
    _W.assignee,
    _W.zone_code,
    _W.reported_at,
    _W.respond_due,
    _W.arrive_due,
    _W.resolve_due,
    _W.occurrences,
    ExternalRef.external_id,
    _W.location,
    cast(_W.tags, String),  # as stored: most orders have none, and "[]" needs no parsing
    cast(_W.custom_fields, String),
    _W.updated_at,
)
"""What a list row shows (`WorkOrderOut`), in its order."""


def _position(column: Any) -> int:
    return next(i for i, c in enumerate(_COLUMNS) if c is column)


_ID, _PRIORITY, _REPORTED_AT, _RESOLVE_DUE, _UPDATED_AT = (
    _position(c) for c in (_W.id, _W.priority, _W.reported_at, _W.resolve_due, _W.updated_at)
)


def _condition(name: str, dialect: str) -> ColumnElement[bool] | TextClause:
    if name == "site_id":
        return _W.site_id == bindparam("site_id")
    if name == "sites":
        sites: BindParameter[list[str]] = bindparam("sites", expanding=True)
        if dialect == "sqlite":
            # `+`: SQLite would take the site index and sort every order of the sites; the
            # list walks its every-site index in order and stops after a page
            return literal_column("+work_order.site_id", String()).in_(sites)
        return _W.site_id.in_(sites)
    if name == "person":
        return _W.assignee == bindparam("person")
    if name == "statuses":
        return _W.status.in_(bindparam("statuses", expanding=True))
    if name == "zone":
        return _W.zone_code == bindparam("zone")
    if name == "building":  # the asset's building, or a location that starts with it
        return or_(
            Asset.building == bindparam("building"),
            and_(
                _W.asset_id.is_(None),
                _W.location.like(bindparam("building_prefix", type_=String()), escape="\\"),
            ),
        )
    if name == "asset":
        return _W.asset_id.in_(
            select(_ASSET_BY_CODE.id).where(_ASSET_BY_CODE.code == bindparam("asset"))
        )
    if name == "external_id":
        return _W.id.in_(
            select(_REF_BY_ID.work_order_id).where(
                _REF_BY_ID.external_id == bindparam("external_id")
            )
        )
    if name in ("priority", "category", "source", "assignee"):
        column: ColumnElement[Any] = getattr(_W, name)
        return column == bindparam(name)
    if name == "updated_since":
        return _W.updated_at >= bindparam(name)
    if name == "reported_from":
        return _W.reported_at >= bindparam(name)
    if name == "reported_to":
        return _W.reported_at < bindparam(name)
    if name == "tags":  # PostgreSQL: the GIN index on the tags
        return text("work_order.tags @> CAST(:tags AS jsonb)")
    if name == "q_ids":  # what the search index found, few enough to fetch by id
        return _W.id.in_(bindparam("q_ids", expanding=True))
    if name == "q_fts":  # SQLite, found too often: `+` keeps the walk on the list's own index
        return text(
            f"+work_order.id IN (SELECT rowid FROM {search.SQLITE_TABLE} "
            f"WHERE {search.SQLITE_TABLE} MATCH :q_fts)"
        )
    if name.startswith("q_like"):
        like: BindParameter[str] = bindparam(name, type_=String())
        return or_(
            _W.title.ilike(like, escape="\\"),
            _W.description.ilike(like, escape="\\"),
            _W.code.ilike(like, escape="\\"),
            ExternalRef.external_id.ilike(like, escape="\\"),
        )
    raise ValueError(name)


@lru_cache(maxsize=512)
def _statement(keys: frozenset[str], sort: SortKey, after: bool, dialect: str) -> ListQuery:
    """The statement of one shape: built once, executed with each request's values."""
    q: ListQuery = (
        select(*_COLUMNS)
        .select_from(_W)
        .outerjoin(Asset, Asset.id == _W.asset_id)
        .outerjoin(ExternalRef, ExternalRef.work_order_id == _W.id)
        .where(*(_condition(k, dialect) for k in sorted(keys)))
    )
    wid = _W.id
    at: BindParameter[Any] = bindparam("after")
    last: BindParameter[int] = bindparam("after_id")
    if sort is SortKey.NEWEST:
        q = q.order_by(_W.reported_at.desc(), wid.desc())
        if after:
            q = q.where(or_(_W.reported_at < at, and_(_W.reported_at == at, wid < last)))
    elif sort is SortKey.OLDEST:
        q = q.order_by(_W.reported_at, wid)
        if after:
            q = q.where(or_(_W.reported_at > at, and_(_W.reported_at == at, wid > last)))
    elif sort is SortKey.RESOLVE_DUE:
        due = _W.resolve_due
        q = q.where(due.is_not(None)).order_by(due, wid)
        if after:
            q = q.where(or_(due > at, and_(due == at, wid > last)))
    elif sort is SortKey.UPDATED:
        changed = _W.updated_at
        q = q.order_by(changed, wid)
        if after:
            q = q.where(or_(changed > at, and_(changed == at, wid > last)))
    else:
        # one priority at a time (`keys` holds "priority"), so the order is the index's
        q = q.order_by(wid.desc())
        if after:
            q = q.where(wid < last)
    return q.limit(bindparam("limit"))


def encode_cursor(values: list[Any]) -> str:
    """An opaque page cursor holding `values` (the sort value and id of the last row shown)."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> HTTPException:
    return HTTPException(422, "分页游标无效 (invalid cursor)")


def cursor_values(cursor: str, length: int) -> list[Any]:
    """The `length` values an `encode_cursor` cursor holds; anything else is a 422."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != length:
        raise invalid_cursor()
    return values


def decode_cursor(cursor: str, sort: SortKey) -> Position:
    """The position a cursor of this sort holds; anything else is a 422."""
    value, last = cursor_values(cursor, 2)
    if not isinstance(last, int) or isinstance(last, bool):
        raise invalid_cursor()
    if sort is SortKey.PRIORITY:
        if value not in PRIORITY_ORDER:
            raise invalid_cursor()
        return Position(value, last)
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise invalid_cursor() from exc
    if t.tzinfo is None:
        raise invalid_cursor()
    return Position(t, last)


def _cursor_for(row: ListRow, sort: SortKey) -> str:
    if sort is SortKey.PRIORITY:
        return encode_cursor([row[_PRIORITY], row[_ID]])
    return encode_cursor([_sort_time(row, sort).isoformat(), row[_ID]])


def _sort_time(row: ListRow, sort: SortKey) -> datetime:
    t = _as_datetime(row[_ORDER[sort][0]])
    if t is None:  # every sort by a time walks only rows that have it
        raise ValueError(f"row {row[_ID]} has no {sort.value}")
    return t


_SQLITE_TIME = len("2026-12-01 08:00:00.000000")


def _as_datetime(value: str | datetime | None) -> datetime | None:
    """A time of a driver's row, aware and UTC: SQLite holds the text SQLAlchemy wrote of it
    (UTC), PostgreSQL's driver gives it in the session's zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_time(value: str | datetime | None) -> str | datetime | None:
    """The same time as `WorkOrderOut`'s JSON writes it: SQLite's text (`2026-12-01
    08:00:00.000000`) rewritten as pydantic writes the datetime (`2026-12-01T08:00:00Z`, the
    microseconds only when there are some) without parsing it; anything else via a datetime."""
    if value.__class__ is str:
        text = str(value)
        if len(text) == _SQLITE_TIME and text[10] == " " and text[19] == ".":
            if text.endswith(".000000"):
                return f"{text[:10]}T{text[11:19]}Z"
            return f"{text[:10]}T{text[11:]}Z"
    return _as_datetime(value)


_STATUS_ZH = {s.value: zh for s, zh in STATUS_ZH.items()}
_PRIORITY_ZH = {p.value: zh for p, zh in PRIORITY_ZH.items()}


_NO_TAGS = frozenset({None, "[]"})
_NO_FIELDS = frozenset({None, "{}"})


TimeOf = Callable[[Any], str | datetime | None]


def _item(row: ListRow, time: TimeOf = _json_time) -> dict[str, Any]:
    """One `WorkOrderOut`, field for field and in its order; its times as `time` gives them
    (for the JSON by default, aware datetimes for an export)."""
    (wid, code, site, source, status, asset, asset_name, category, priority, title, text) = row[:11]
    (assignee, zone, reported_at, respond_due, arrive_due, resolve_due, times, ext) = row[11:19]
    (location, tags, custom_fields, updated_at) = row[19:]
    tags = [] if tags in _NO_TAGS else json.loads(tags)
    custom_fields = {} if custom_fields in _NO_FIELDS else json.loads(custom_fields)
    return {
        "id": wid,
        "code": code,
        "site_id": site,
        "source": source,
        "status": status,
        "status_zh": _STATUS_ZH[status],
        "asset": asset,
        "asset_name": asset_name,
        "category": category,
        "priority": priority,
        "priority_zh": _PRIORITY_ZH[priority],
        "title": title,
        "description": text,
        "assignee": assignee,
        "zone": zone,
        "reported_at": time(reported_at),
        "respond_due": time(respond_due),
        "arrive_due": time(arrive_due),
        "resolve_due": time(resolve_due),
        "occurrences": times,
        "external_id": ext,
        "location": location,
        "tags": tags,
        "custom_fields": custom_fields,
        "updated_at": time(updated_at),
    }


_ORDER: dict[SortKey, tuple[int, bool]] = {
    SortKey.NEWEST: (_REPORTED_AT, True),
    SortKey.OLDEST: (_REPORTED_AT, False),
    SortKey.RESOLVE_DUE: (_RESOLVE_DUE, False),
    SortKey.UPDATED: (_UPDATED_AT, False),
    SortKey.PRIORITY: (_ID, True),  # within one priority
}
"""Each sort's row column and direction (`reverse`), with the id breaking ties the same way."""


MERGE_SITES_UP_TO = 6
"""A token of up to this many sites is listed site by site and merged."""


def _rows(
    conn: Connection, params: dict[str, Any], sort: SortKey, after: bool, n: int
) -> list[ListRow]:
    """Up to `n` rows in the sort's order. A token of a few sites (one included: a site's own
    indexes serve its filters, the every-site ones only the sort) asks each site and merges, so
    every query walks its site's index in order instead of sorting all the sites' orders; past
    `MERGE_SITES_UP_TO` sites one query walks the every-site index and keeps the token's sites
    (a region of 40 sites: one query reading a few hundred entries, not 40 queries a page)."""
    sites = params.get("sites")
    if sites is not None and len(sites) <= MERGE_SITES_UP_TO:
        rows: list[ListRow] = []
        for site in sites:
            one = {k: v for k, v in params.items() if k != "sites"}
            rows += _rows(conn, {**one, "site_id": site}, sort, after, n)
        column, reverse = _ORDER[sort]
        rows.sort(key=lambda r: (r[column], r[_ID]), reverse=reverse)
        return rows[:n]
    keys = frozenset(k for k in params if k not in ("after", "after_id", "building_prefix"))
    statement = _statement(keys, sort, after, conn.dialect.name)
    result = conn.execute(statement, {**params, "limit": n})
    # the driver's own rows: SQLAlchemy's row and type processing cost a quarter of the page;
    # their times are read as each driver gives them (`_as_datetime`, `_json_time`)
    raw = list(result.cursor.fetchall())
    result.close()
    return raw


_FOUND_FTS = text(
    f"SELECT rowid FROM {search.SQLITE_TABLE} WHERE {search.SQLITE_TABLE} MATCH :q LIMIT :n"
)
_PATTERN = (
    # the pattern written into the statement: a prepared statement's generic plan cannot see
    # how rare it is, and scans every order for a word the index would find at once
    bindparam("q", type_=String(), literal_execute=True),
    bindparam("n", type_=Integer(), literal_execute=True),
)
_FOUND_TRGM = tuple(
    text(sql).bindparams(*_PATTERN)
    for sql in (
        f"SELECT id FROM work_order WHERE {search.POSTGRESQL_TEXT} ILIKE :q LIMIT :n",
        "SELECT work_order_id FROM work_order_external_ref WHERE external_id ILIKE :q LIMIT :n",
    )
)


def _found(conn: Connection, probes: tuple[TextClause, ...], q: str) -> list[int] | None:
    """The ids the search index finds, or None when there are more than `WALK_FROM`: then the
    list walks its own index in order and stops after a page, sooner than fetching them all.
    Each probe adds its orders (PostgreSQL: by text, then by ticket id), until there are too
    many to fetch."""
    ids: dict[int, None] = {}
    for probe in probes:
        ids.update(
            dict.fromkeys(conn.execute(probe, {"q": q, "n": search.WALK_FROM + 1}).scalars())
        )
        if len(ids) > search.WALK_FROM:
            return None
    return list(ids)


def _page_rows(
    engine: Engine, f: ListFilter, sort: SortKey, after: Position | None, limit: int
) -> tuple[list[ListRow], bool]:
    """Up to `limit` rows after `after`, and whether more follow (blocking)."""
    params = f.params(engine.dialect.name)
    with engine.connect() as conn:
        if "q_fts" in params:  # SQLite
            found = _found(conn, (_FOUND_FTS,), params["q_fts"])
            if found is not None:
                params["q_ids"] = found
                del params["q_fts"]
        if "q_probe" in params:  # PostgreSQL
            # the planner prices a trigram index above a scan of a table as small as the
            # ticket ids' and scans; the index answers in a third of the time (measured)
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            found = _found(conn, _FOUND_TRGM, params.pop("q_probe"))
            conn.exec_driver_sql("SET LOCAL enable_seqscan = on")
            if found is not None:
                params["q_ids"] = found
        if sort is not SortKey.PRIORITY:
            if after is not None:
                params["after"], params["after_id"] = after.value, after.id
            rows = _rows(conn, params, sort, after is not None, limit + 1)
        else:
            rows = []
            start = PRIORITY_ORDER.index(str(after.value)) if after is not None else 0
            for i, priority in enumerate(PRIORITY_ORDER[start:]):
                if f.priority is not None and priority != f.priority:
                    continue
                values = {**params, "priority": priority}
                continues = after is not None and i == 0
                if after is not None and continues:
                    values["after_id"] = after.id
                rows += _rows(conn, values, sort, continues, limit + 1 - len(rows))
                if len(rows) > limit:
                    break
    return rows[:limit], len(rows) > limit


def list_page(
    engine: Engine, f: ListFilter, sort: SortKey, after: Position | None, limit: int
) -> bytes:
    """One page as `WorkOrderPage` JSON (blocking: run it off the event loop)."""
    rows, more = _page_rows(engine, f, sort, after, limit)
    return to_json(
        {
            "items": [_item(r) for r in rows],
            "next_cursor": _cursor_for(rows[-1], sort) if more and rows else None,
        }
    )


EXPORT_PAGE = 1000
"""Rows a query of `every_item` reads: big enough to cost few queries, small enough to stream."""


def every_item(
    engine: Engine, f: ListFilter, sort: SortKey, page: int = EXPORT_PAGE
) -> Iterator[list[dict[str, Any]]]:
    """Every order of the list, a page of `WorkOrderOut` dicts at a time, in the list's order,
    walking its pages as a client following `next_cursor` would (an export). Blocking; no
    connection is held between pages, so it can be iterated from any thread."""
    after: Position | None = None
    while True:
        rows, more = _page_rows(engine, f, sort, after, page)
        if rows:
            yield [_item(r, _as_datetime) for r in rows]
        if not more or not rows:
            return
        last = rows[-1]
        value = last[_PRIORITY] if sort is SortKey.PRIORITY else _sort_time(last, sort)
        after = Position(value, last[_ID])
