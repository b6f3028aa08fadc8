"""No page loads anything from a host other than its own: an intranet box has no way out, and a
page that reaches for a CDN stays blank there.

Two ways: every page the server serves (the pages and the API docs) and every static file is
read for URLs of other hosts in the places a browser loads from (HTML `src`/`href`/`srcset`,
CSS `url()`/`@import`, script loads and asset-like URLs in JavaScript); and each page is opened
in real Chromium, which must make every request to the page's own origin and meet no
Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from api.routes import docs, pages
from propwatch.site import Site
from tests.api.browser import chromium
from tests.api.pages import DESK, WAIT_MS, Live, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

STATIC = pages.STATIC
PAGE_PATHS = sorted(
    {getattr(r, "path", "") for r in (*pages.router.routes, *docs.router.routes)} - {""}
)
"""Every page the server serves: the pages' and the docs' routes, so a new page is covered."""

OFFSITE = r"(?:https?:)?//[^\s\"'`)<>]+"
_CSS_LOADS = re.compile(rf"""(?i)(?:url\(\s*["']?|@import\s+["']?)({OFFSITE})""")
_JS_LOADS = re.compile(
    rf"""(?i)(?:\bsrc\s*[=:]\s*|\burl\(\s*|\bimport\s*\(\s*|\bimport\s+|\bfetch\(\s*|"""
    rf"""importScripts\(\s*|\bWorker\(\s*|\bEventSource\(\s*)["'`]({OFFSITE})"""
)
_JS_ASSETS = re.compile(
    r"""(?i)["'`](https?://[^"'`\s]+?\.(?:m?js|css|png|jpe?g|gif|svg|webp|ico|woff2?|ttf|otf"""
    r"""|eot|wasm))(?:[?#][^"'`\s]*)?["'`]"""
)
_LOADING_LINKS = {"stylesheet", "icon", "shortcut icon", "preload", "modulepreload", "manifest"}


class _Loads(HTMLParser):
    """The URLs an HTML document makes a browser load, with its inline styles and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._inline: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in ("src", "poster", "data"):
            if name in a:
                self.urls.append(a[name])
        if "srcset" in a:
            self.urls += [part.split()[0] for part in a["srcset"].split(",") if part.strip()]
        if tag == "link" and a.get("rel", "").lower() in _LOADING_LINKS:
            self.urls.append(a.get("href", ""))
        if "style" in a:
            self.urls += css_loads(a["style"])
        self._inline = tag if tag in ("style", "script") and "src" not in a else None

    def handle_data(self, data: str) -> None:
        if self._inline == "style":
            self.urls += css_loads(data)
        elif self._inline == "script":
            self.urls += js_loads(data)

    def handle_endtag(self, tag: str) -> None:
        self._inline = None


def css_loads(text: str) -> list[str]:
    return _CSS_LOADS.findall(text)


def js_loads(text: str) -> list[str]:
    return _JS_LOADS.findall(text) + _JS_ASSETS.findall(text)


def html_loads(text: str) -> list[str]:
    parser = _Loads()
    parser.feed(text)
    return parser.urls


def offsite(urls: list[str]) -> list[str]:
    """The URLs naming a host: this server's own pages use paths only."""
    return [u for u in urls if re.match(r"(?i)^\s*(?:https?:)?//", u)]


def test_the_scanner_finds_what_a_cdn_page_loads() -> None:
    # FastAPI's default docs page, ReDoc's logo before the vendoring patch, and the common ways
    # a page pulls a font or a script: each must be seen, or the checks below prove nothing
    cdn = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
    page = (
        f'<link rel="stylesheet" href="{cdn}/swagger-ui.css">'
        '<link rel="shortcut icon" href="https://fastapi.tiangolo.com/img/favicon.png">'
        f'<script src="{cdn}/swagger-ui-bundle.js"></script>'
        "<style>@import url(//fonts.googleapis.com/css?family=Roboto);</style>"
        '<img srcset="/a.png 1x, https://img.example.com/b.png 2x">'
        '<a href="https://redocly.com/redoc/">a link is not a load</a>'
    )
    assert len(offsite(html_loads(page))) == 5
    assert offsite(js_loads('n.createElement("img",{src:"https://cdn.redoc.ly/logo-mini.svg"})'))
    assert offsite(js_loads('import("https://esm.sh/lib"); s.src = "//cdn.example.com/x"'))
    assert offsite(css_loads("body{background:url('https://cdn.example.com/bg.webp')}"))
    assert not offsite(js_loads('ns="http://www.w3.org/2000/svg"; href:"https://redocly.com/"'))


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_a_served_page_loads_nothing_from_another_host(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert offsite(html_loads(r.text)) == []
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy


STATIC_FILES = sorted(
    p for p in STATIC.rglob("*") if p.suffix in (".html", ".css", ".js") and p.is_file()
)


@pytest.mark.parametrize(
    "path", STATIC_FILES, ids=[str(p.relative_to(STATIC)) for p in STATIC_FILES]
)
def test_a_static_file_loads_nothing_from_another_host(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    scan = {".html": html_loads, ".css": css_loads, ".js": js_loads}[path.suffix]
    assert offsite(scan(text)) == []


def test_the_vendored_libraries_ship_with_their_licences() -> None:
    vendor = STATIC / "vendor"
    packages = {"swagger-ui": "swagger-ui-dist@", "redoc": "redoc@", "uplot": "uplot@"}
    for name, package in packages.items():
        assert (vendor / name / "LICENSE").stat().st_size > 500
        assert (vendor / name / "VERSION").read_text(encoding="utf-8").startswith(package)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, example_site: Site) -> Iterator[Live]:
    with live_server(f"sqlite:///{tmp_path}/pages.db", example_site, tmp_path / "var") as server:
        yield server


READY = {
    "/docs": ".swagger-ui .opblock-tag",
    "/redoc": "[data-section-id]",
    "/daily": "body[data-ready]",
}
"""What shows once a page has loaded what it loads (docs: the schema rendered; 日报: the day)."""
STREAMING = {"/", "/duty", "/overview", "/tasks"}
"""Pages holding an event stream open, which keeps the network busy: live means their first
loads were made. Any other page is checked once loaded."""

_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_in_chromium_every_request_of_a_page_goes_to_its_own_origin(
    browser: Browser, live: Live, path: str
) -> None:
    context = browser.new_context(viewport=DESK, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.add_init_script(_VIOLATIONS)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{live.base}{path}#token={live.tokens.duty}")
    if path in STREAMING:
        page.wait_for_selector("body[data-stream=live]")
    else:
        if path in READY:
            page.wait_for_selector(READY[path])
        page.wait_for_load_state("networkidle")
    fetched = [u for u in requested if not u.startswith(("data:", "blob:"))]
    assert fetched, "the page made no request at all"
    assert [u for u in fetched if not u.startswith(f"{live.base}/")] == []
    assert page.evaluate("window.__violations") == []
    context.close()
