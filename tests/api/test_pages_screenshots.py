"""docs/screenshots/make.py photographs both pages from seeded 和谐花园 data in real chromium."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import ModuleType

from tests.api.browser import require_chromium

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "screenshots" / "make.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screenshots_make", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def test_the_script_writes_a_screenshot_of_each_page(tmp_path: Path) -> None:
    chromium = require_chromium()
    duty, phone, device = _load().make(tmp_path, chromium)

    width, height = _png_size(duty)
    assert width == 1440 and height >= 900
    width, height = _png_size(phone)
    assert width == 390 * 2 and height >= 844 * 2  # a phone at device scale 2
    # a blank or error page compresses to a few kilobytes; these hold tables and cards
    assert duty.stat().st_size > 60_000 and phone.stat().st_size > 40_000
    assert _png_size(device)[0] == 1440 and device.stat().st_size > 40_000


def test_the_committed_screenshots_are_there_for_the_docs() -> None:
    for name in ("duty-room.png", "technician.png", "device.png"):
        assert _png_size(SCRIPT.parent / name)[0] > 0
