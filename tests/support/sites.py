"""Site files for tests of many properties: copies of the example site under other ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hexie-garden" / "site.yaml"


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def copy_example_site(
    folder: Path,
    site_id: str,
    name: str,
    *,
    region: str | None = None,
    modbus_port: int | None = None,
    file_name: str | None = None,
) -> Path:
    """Write the example site as `site_id` named `name` into `folder`; asset names carry the
    site's name (so a page or answer that shows another site's asset is seen), and its
    simulated Modbus devices move to `modbus_port` (and the next one) when given."""
    data = example_data()
    data["site"]["id"] = site_id
    data["site"]["name"] = name
    if region is not None:
        data["site"]["region"] = region
    for asset in data["assets"]:
        asset["name"] = f"{name}{asset['name']}"
    if modbus_port is not None:
        ports = sorted({d["port"] for d in data["devices"] if "port" in d})
        moved = {p: modbus_port + i for i, p in enumerate(ports)}
        for d in data["devices"]:
            if "port" in d:
                d["port"] = moved[d["port"]]
    path = folder / (file_name or f"{site_id}.yaml")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
