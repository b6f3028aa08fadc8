"""Site files for plan tests: the example site's people and zones with generated assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from propwatch.site import Site, load_site

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hexie-garden" / "site.yaml"


def plan_site(
    tmp_path: Path,
    assets: list[dict[str, Any]],
    plans: list[dict[str, Any]],
    **extra: Any,
) -> Site:
    """和谐花园's zones and staff with only the given assets and plans (no devices)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(devices=[], rules=[], assets=assets, plans=plans, **extra)
    quality = data.get("quality")
    if isinstance(quality, dict) and "quality" not in extra:
        quality.pop("patrols", None)  # their points are the example's assets
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_site(path)


def fleet(
    kind: str, n: int, zone: str, building: str = "", prefix: str | None = None
) -> list[dict[str, Any]]:
    """`n` assets of one kind in one zone."""
    p = prefix or kind
    return [
        {"id": f"{p}-{i}", "name": f"{p} {i}号", "kind": kind, "zone": zone, "building": building}
        for i in range(1, n + 1)
    ]
