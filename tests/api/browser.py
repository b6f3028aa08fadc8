"""Real headless Chromium (Debian's `chromium`) driven by Playwright, for the page tests.

Playwright's own browser downloads are never used: it drives the system binary. A missing
chromium or Playwright skips with the reason; with PROPWATCH_REQUIRE_SERVERS=1 it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from tests.support.servers import REQUIRE, require_binary

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def _playwright_missing(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"PROPWATCH_REQUIRE_SERVERS=1 but {reason}")
    pytest.skip(reason)


def require_chromium() -> str:
    """The chromium binary, once both it and Playwright are known to be there."""
    binary = require_binary("chromium", "/usr/bin")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _playwright_missing("playwright is not installed (pip install -e '.[dev]')")
    return binary


@contextmanager
def chromium() -> Iterator[Browser]:
    binary = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
