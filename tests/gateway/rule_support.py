"""Samples for rule tests, built the way the poller builds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.readings import Sample, Value
from propwatch.site import Rule, SiteFile

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def sample(at_seconds: float, asset: str = "pump-1", **values: Value) -> Sample:
    return Sample(
        "hexie",
        asset,
        asset,
        "water_pump",
        T0 + timedelta(seconds=at_seconds),
        dict(values),
        {"outlet_pressure": "MPa", "vibration": "mm/s"},
    )


def rule(**fields: object) -> Rule:
    """Validate one rule exactly as the site file would."""
    spec = SiteFile.model_validate(
        {
            "site": {"id": "hexie", "name": "和谐花园", "latitude": 30.0, "longitude": 120.0},
            "zones": [{"id": "zone-a", "name": "A区"}],
            "rules": [{"id": "r", "asset": "pump-1", **fields}],
        }
    )
    return spec.rules[0]
