"""The API's path templates as `/openapi.json` publishes them, for answers made where FastAPI's
routing cannot help: `Allow` on a 405 (each method is a route of its own, and Starlette names
only those of the first it matched) and a path value named in a 422 before routing.

Read from the published document, so what these answers say is what the schema says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@dataclass(frozen=True)
class PathTemplate:
    template: str
    regex: re.Pattern[str]
    methods: frozenset[str]


def path_templates(app: ASGIApp) -> Iterator[PathTemplate]:
    """Every published path, in the order the routes were registered (the order they match)."""
    openapi = getattr(app, "openapi", None)
    if openapi is None:
        return
    for template, item in openapi().get("paths", {}).items():
        regex, _, _ = compile_path(template)
        methods = frozenset(m.upper() for m in item if m in HTTP_METHODS)
        yield PathTemplate(template, regex, methods)


def allowed_methods(app: ASGIApp, path: str) -> frozenset[str]:
    """The methods `path` takes, as published: those of the most specific templates it matches
    (`/work-orders/bulk` is that resource, not a `/work-orders/{work_order_id}`)."""
    matching = [t for t in path_templates(app) if t.regex.match(path)]
    if not matching:
        return frozenset()
    fewest = min(t.regex.groups for t in matching)
    return frozenset(m for t in matching if t.regex.groups == fewest for m in t.methods)


def path_values(app: ASGIApp, path: str) -> Iterator[dict[str, str]]:
    """The path parameters `path` gives each published template it matches."""
    for t in path_templates(app):
        found = t.regex.match(path)
        if found is not None:
            yield found.groupdict()
