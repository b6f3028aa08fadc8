"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served whole from
this server.

FastAPI's own pages load both libraries, a favicon and Google Fonts from public CDNs, so on an
intranet box they stay blank. These are the same pages (`get_swagger_ui_html`,
`get_redoc_html`) pointed at the copies in `api/static/vendor/` (`deploy/vendor_npm.py`), with
Swagger's online validator off and a Content-Security-Policy that lets them load from this
origin only; their inline scripts and styles are allowed by hash.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"

router = APIRouter(include_in_schema=False)

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    """The page with a policy allowing this origin and exactly its own inline blocks."""
    body = bytes(page.body).decode()
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, content in _INLINE.findall(body):
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = (
        f"default-src 'self'; script-src 'self' {' '.join(hashes['script'])}; "
        # ReDoc's styled-components and Swagger's React write styles at run time
        f"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    page.headers["Content-Security-Policy"] = policy
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


def _openapi_url(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/openapi.json"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: try the API from the browser."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return _with_policy(
        get_swagger_ui_html(
            openapi_url=_openapi_url(request),
            title="propwatch API",
            swagger_js_url=f"{root}{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{VENDOR}/swagger-ui/favicon-32x32.png",
            # the default sends the schema's address to validator.swagger.io for a badge
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the API reference as one long page."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return _with_policy(
        get_redoc_html(
            openapi_url=_openapi_url(request),
            title="propwatch API - ReDoc",
            redoc_js_url=f"{root}{VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{VENDOR}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )
    )
