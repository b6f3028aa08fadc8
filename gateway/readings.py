"""The one normalized reading type, and its line-protocol form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Quality(StrEnum):
    GOOD = "good"
    BAD = "bad"
    STALE = "stale"


Value = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Sample:
    """All values one device gave at one instant (a poll or a payload)."""

    site_id: str
    asset_id: str
    device_id: str
    kind: str
    at: datetime
    values: dict[str, Value]
    units: dict[str, str] = field(default_factory=dict)
    quality: Quality = Quality.GOOD


def _escape_tag(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _field(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return repr(v)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_line(s: Sample) -> str:
    """InfluxDB line protocol: measurement = asset kind, tags site/asset/device, ns timestamp.

    Built with an f-string: ≈16x faster than `Point.to_line_protocol` (see docs/performance.md).
    """
    fields = ",".join(f"{_escape_tag(k)}={_field(v)}" for k, v in s.values.items())
    ts = int(s.at.timestamp() * 1_000_000) * 1000
    return (
        f"{_escape_tag(s.kind)},site={_escape_tag(s.site_id)},asset={_escape_tag(s.asset_id)},"
        f"device={_escape_tag(s.device_id)} {fields} {ts}"
    )
