"""The work-order list's filters as query parameters, in one place: the list
(`GET /api/v1/work-orders`) and its export (`GET /api/v1/work-orders/export`) take exactly the
same ones, and see exactly what the caller may see (a technician: only their own tasks)."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams

from api.auth import ApiRole, Principal
from api.deps import AppContext, Ctx, Reader, check_site
from api.validation import Moment
from api.work_order_list import ListFilter
from maintenance.work_orders import search
from maintenance.work_orders.models import Source, Status
from propwatch.site import Category, Priority


class ListQuery(BaseModel):
    """The list's filters as the query string gives them, validated in one pass: FastAPI reads
    and validates a declared query parameter at about 10 µs each, and these eighteen cost the
    list a sixth of its CPU (`bench.api_request_costs`). `LIST_PARAMETERS` documents them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    site_id: str | None = Field(None, max_length=64)
    status: list[Status] | None = Field(None, description="one or more statuses")
    priority: Priority | None = None
    category: Category | None = None
    source: Source | None = None
    assignee: str | None = Field(None, max_length=64)
    zone: str | None = Field(None, max_length=64)
    building: str | None = Field(
        None,
        max_length=100,
        description="楼栋: orders on an asset of this building, and orders without an asset "
        "whose location starts with it",
    )
    asset: str | None = Field(None, max_length=64)
    external_id: str | None = Field(None, max_length=100)
    q: str | None = Field(
        None,
        max_length=200,
        description="words found (case-insensitively, each as a substring) in the title, "
        "description, code or external_id; every word must be found",
    )
    tag: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, description="orders carrying every one of these tags (repeatable)"
    )
    updated_since: Moment | None = Field(
        None, description="changed at or after this time (inclusive)"
    )
    reported_from: Moment | None = Field(
        None, description="reported at or after this time (inclusive)"
    )
    reported_to: Moment | None = Field(None, description="reported before this time (exclusive)")


_REPEATABLE = frozenset(
    name
    for name, f in ListQuery.model_fields.items()
    if get_origin(f.annotation) is not None
    and list in (get_origin(a) for a in get_args(f.annotation))
)


def read_query(params: QueryParams) -> ListQuery:
    """The filters of a query string as FastAPI would read them (a repeated name: every value
    of a list, the last of a single value); a bad one is FastAPI's 422, its `loc` in `query`."""
    raw: dict[str, Any] = {}
    for name in ListQuery.model_fields:
        if name in _REPEATABLE:
            values = params.getlist(name)
            if values:
                raw[name] = values
        elif name in params:
            raw[name] = params[name]
    try:
        return ListQuery.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return _inlined(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inlined(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


def _parameters() -> list[dict[str, Any]]:
    schema = ListQuery.model_json_schema()
    defs = schema.get("$defs", {})
    out = []
    for name, prop in schema["properties"].items():
        prop = _inlined(prop, defs)
        prop.pop("default", None)
        description = prop.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    return out


LIST_PARAMETERS = _parameters()
"""The OpenAPI parameters of `ListQuery`, for the routes that take it (`openapi_extra`)."""


async def list_filter(request: Request, ctx: Ctx, caller: Reader) -> ListFilter:
    """What the caller asked for, within what they may see. Async: it reads no database, so it
    costs the list no trip to the thread pool."""
    query = read_query(request.query_params)
    site_id = query.site_id
    if site_id is not None:
        check_site(caller, site_id)
    sites = caller.site_filter()
    return ListFilter(
        site_id=site_id,
        sites=tuple(sites) if sites is not None and site_id is None else None,
        person=(caller.person or "") if caller.role is ApiRole.TECHNICIAN else None,
        statuses=tuple(dict.fromkeys(s.value for s in query.status or ())),
        priority=query.priority.value if query.priority is not None else None,
        category=query.category.value if query.category is not None else None,
        source=query.source.value if query.source is not None else None,
        assignee=query.assignee,
        zone=query.zone,
        building=query.building or None,
        asset=query.asset,
        external_id=query.external_id,
        q=tuple(search.terms(query.q or "")),
        tags=tuple(dict.fromkeys(_declared_tags(ctx, caller, site_id, query.tag or []))),
        updated_since=query.updated_since,
        reported_from=query.reported_from,
        reported_to=query.reported_to,
    )


def _declared_tags(
    ctx: AppContext, caller: Principal, site_id: str | None, tags: list[str]
) -> list[str]:
    """The tags of a filter, each declared by a site the list covers; a typo is a 422."""
    if not tags:
        return tags
    sites = [site_id] if site_id is not None else [s for s in ctx.sites if caller.may_see(s)]
    declared = {t for s in sites if s in ctx.sites for t in ctx.sites[s].spec.work_orders.tags}
    unknown = [(i, t) for i, t in enumerate(tags) if t not in declared]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "unknown_tag",
                    "loc": ("query", "tag", i),
                    "msg": f"标签「{t}」未在小区中声明 (unknown tag {t!r})",
                    "input": t,
                }
                for i, t in unknown
            ]
        )
    return tags
