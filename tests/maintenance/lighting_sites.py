"""The example site (和谐花园) with a lighting schedule for its B区 panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from propwatch.site import Site, load_site

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hexie-garden" / "site.yaml"

SWITCHES: list[dict[str, Any]] = [
    {
        "id": "b-public",
        "name": "B区路灯",
        "asset": "lighting-b",
        "circuits": [1, 2, 3, 4, 5, 6],
        "on": {"after_sunset": "10m"},
        "off": {"before_sunrise": "15m"},
    },
    {
        "id": "b-garden",
        "name": "B区庭院灯",
        "asset": "lighting-b",
        "circuits": [7, 8],
        "on": {"after_sunset": "10m"},
        "off": {"at": "23:30"},
        "ttl": "5m",
    },
]


def lighting_site(
    tmp_path: Path,
    switches: list[dict[str, Any]] | None = None,
    site_id: str | None = None,
    **doc_changes: Any,
) -> Site:
    """和谐花园 with `lighting_control` (`SWITCHES` unless given), under `site_id` if given."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["lighting_control"] = {"ttl": "10m", "switches": SWITCHES if switches is None else switches}
    if site_id is not None:
        doc["site"]["id"] = site_id
    doc.update(doc_changes)
    path = tmp_path / "lighting-site" / "site.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_site(path)
