"""What every input must be before it reaches a database: text both backends can store, times
the code can compute, references the site really has.

- **Text.** PostgreSQL stores no NUL (U+0000) in text or JSON, and no database takes an unpaired
  surrogate (U+D800–U+DFFF, not encodable as UTF-8). Both are refused with 422 naming the value:
  path and query values by `StorableTextMiddleware`, before anything (the idempotency record
  included) keeps them; JSON and form bodies, every string and key at any depth, by
  `refuse_unstorable_body`, installed on the whole app. New routes get both without doing
  anything; a body read some other way (NDJSON rows) checks each row with `unstorable_in`.
- **Times.** `Moment` is an aware date-time within 1970-01-01 … 2200-01-01 UTC: further out,
  turning it into UTC, adding a time limit or formatting a work-order code overflows
  (`0001-01-01T00:00:00+14:00` is year 0 in UTC).
- **References.** `site_in_body` refuses a site the token may see but the service does not have,
  `scopes_in_body` a region or site a new token names; assets, zones and people are checked by
  `maintenance.work_orders.service.check_references`.
  Both answer 422 `unknown_reference` with the field in `errors[].loc`.
"""

from __future__ import annotations

import email.message
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import check_site
from api.openapi_paths import path_values
from api.problems import problem
from api.scopes import COMPANY, covers, region_of
from maintenance.errors import UnknownReference
from propwatch.time_bounds import EARLIEST, LATEST, OUT_OF_RANGE_EN, OUT_OF_RANGE_ZH, within_bounds

if TYPE_CHECKING:
    from api.auth import Principal
    from api.deps import AppContext
    from propwatch.site import Site

Loc = tuple[str | int, ...]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_char(text: str) -> str | None:
    """The first character of `text` no database here can store, as `U+XXXX`, or None."""
    found = _UNSTORABLE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def unstorable_message(char: str) -> str:
    return f"含有无法保存的字符 {char} (contains {char}, which cannot be stored)"


def unstorable_in(value: Any, loc: Loc = ()) -> tuple[Loc, str] | None:
    """Where in a parsed JSON value (keys included) the first unstorable character is, and which."""
    if isinstance(value, str):
        char = unstorable_char(value)
        return None if char is None else (loc, char)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and (char := unstorable_char(key)) is not None:
                return (*loc, key), char
            if (found := unstorable_in(item, (*loc, str(key)))) is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if (found := unstorable_in(item, (*loc, i))) is not None:
                return found
    return None


def _refusal(loc: Loc, char: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "unstorable_character",
                "loc": loc,
                "msg": unstorable_message(char),
                "input": value,
            }
        ]
    )


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a type as JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def refuse_unstorable_body(request: Request) -> None:
    """Every string of a JSON or form body, at any depth, must be storable (app-wide dependency).

    FastAPI has parsed the body before dependencies run, so `request.json()` and
    `request.form()` return what it already read; a route without a body is not looked at."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        for key, item in form.multi_items():
            text = (item.filename or "") if isinstance(item, UploadFile) else item
            if (char := unstorable_char(text) or unstorable_char(key)) is not None:
                raise _refusal(("body", key), char, text)
        return
    if not _is_json(content_type) or not await request.body():
        return
    try:
        parsed = await request.json()
    except ValueError:  # not JSON: FastAPI refuses it on its own when the route reads JSON
        return
    found = unstorable_in(parsed, ("body",))
    if found is not None:
        raise _refusal(found[0], found[1], None)


class StorableTextMiddleware:
    """Refuses a path or query value no database can store, before any middleware keeps it.

    The answer names the parameter as FastAPI's own validation would (`["path", "code"]`,
    `["query", "external_id"]`), from the route the path matches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _in_query(scope) or _in_path(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        loc, char = found
        response = problem(
            Request(scope),
            422,
            "请求参数无效 (invalid request)",
            errors=[{"loc": [str(p) for p in loc], "msg": unstorable_message(char)}],
        )
        await response(scope, receive, send)


def _in_query(scope: Scope) -> tuple[Loc, str] | None:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return None
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if (char := unstorable_char(value) or unstorable_char(key)) is not None:
            return ("query", key), char
    return None


def _in_path(scope: Scope) -> tuple[Loc, str] | None:
    anywhere = unstorable_char(scope["path"])
    if anywhere is None:
        return None
    for values in path_values(scope["app"], scope["path"]):
        for name, value in values.items():
            if (char := unstorable_char(value)) is not None:
                return ("path", name), char
    return ("path",), anywhere


# -- times ---------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d")


def _rfc3339_text(value: object) -> object:
    # the published format is `date-time` (RFC 3339): no Unix seconds ("0.5"), no dates alone
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError(
            "datetime_format",
            "时间须为带时区的 RFC 3339 格式，如 2026-11-23T10:00:00+08:00 "
            "(an RFC 3339 date-time with offset)",
        )
    return value


def _within_range(value: datetime) -> datetime:
    if not within_bounds(value):
        raise PydanticCustomError("datetime_out_of_range", f"{OUT_OF_RANGE_ZH} ({OUT_OF_RANGE_EN})")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_within_range)]
"""An RFC 3339 date-time with offset the code can compute with: 1970-01-01 … 2200-01-01 UTC,
else 422."""


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_text(value: object) -> object:
    # the published format is `date`: no Unix seconds (0 would be 1970-01-01), no date-times
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise PydanticCustomError(
            "date_format", "日期须为 YYYY-MM-DD 格式，如 2026-11-23 (a date as YYYY-MM-DD)"
        )
    return value


def _day_in_range(value: date) -> date:
    if not EARLIEST.year <= value.year < LATEST.year:
        raise PydanticCustomError("date_out_of_range", f"{OUT_OF_RANGE_ZH} ({OUT_OF_RANGE_EN})")
    return value


Day = Annotated[date, BeforeValidator(_date_text), AfterValidator(_day_in_range)]
"""A calendar day as `YYYY-MM-DD` in the years the code can compute with (1970 … 2199), else
422: what a body or query sends as a date (a bare number is not one)."""


# -- references ----------------------------------------------------------------------------------


def site_in_body(ctx: AppContext, caller: Principal, site_id: str, field: str = "site_id") -> Site:
    """The site a body names. A token that may not see it gets 403 whether or not it exists (it
    learns nothing); a site this service does not have is 422 naming the field, not 404."""
    check_site(caller, site_id)
    site = ctx.sites.get(site_id)
    if site is None:
        raise UnknownReference({field: (f"小区 {site_id} 不存在", f"unknown site {site_id!r}")})
    return site


TOKEN_WIDER = "不能发放超出本令牌范围的令牌"
SUBSCRIPTION_WIDER = "不能订阅超出本令牌范围的小区或区域"


def scopes_in_body(
    ctx: AppContext,
    caller: Principal,
    scopes: list[str],
    field: str = "sites",
    wider: str = TOKEN_WIDER,
) -> list[str]:
    """Every scope a body lists (`*`, `region:<id>`, site ids: a token's or a subscription's),
    and the sites they cover now (`["*"]` for the company). A scope wider than the caller's own
    is 403 with `wider` (`api.scopes.covers`); an unknown region or site is 422
    `unknown_reference` naming its position (`sites.1`)."""
    at_fault: dict[str, tuple[str, str]] = {}
    for i, scope in enumerate(scopes):
        if not covers(caller, scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"{wider}: {scope} (scope wider than this token's)"
            )
        region = region_of(scope)
        if region is not None and not ctx.organisation.knows_region(region, ctx.sites):
            at_fault[f"{field}.{i}"] = (f"区域 {region} 不存在", f"unknown region {region!r}")
        elif region is None and scope != COMPANY and scope not in ctx.sites:
            at_fault[f"{field}.{i}"] = (f"小区 {scope} 不存在", f"unknown site {scope!r}")
    if at_fault:
        raise UnknownReference(at_fault)
    if COMPANY in scopes:
        return [COMPANY]
    regions = [r for s in scopes if (r := region_of(s)) is not None]
    direct = {s for s in scopes if region_of(s) is None}
    return sorted(direct | ctx.organisation.sites_in(regions, ctx.sites))


def person_in_body(ctx: AppContext, sites: list[str], person: str, field: str = "person") -> None:
    """A person must be on the roster (名册) of one of the sites the body lists (any, for `*`)."""
    known = (
        [ctx.sites[s] for s in sites if s in ctx.sites] if "*" not in sites else ctx.sites.values()
    )
    if not any(p.id == person for site in known for p in site.spec.people):
        raise UnknownReference(
            {field: (f"人员 {person} 不在所选小区的名册中", f"unknown person {person!r}")}
        )
