"""Report by exception (deadband and heartbeat) and the line-protocol form of samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.readings import (
    PointPolicy,
    Quality,
    Reading,
    ReportByException,
    Sample,
    site_policies,
    to_line,
)
from propwatch.site import Site

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _sample(seconds: float, quality: Quality = Quality.GOOD, **values: float | str) -> Sample:
    return Sample(
        "hexie",
        "pump-1",
        "pump-1",
        "water_pump",
        T0 + timedelta(seconds=seconds),
        dict(values),
        quality=quality,
    )


def _rbe(deadband: float | None = 0.1, heartbeat: float = 60) -> ReportByException:
    return ReportByException({("pump-1", "pressure"): PointPolicy(deadband, heartbeat)})


def test_value_within_the_deadband_is_held_back() -> None:
    rbe = _rbe()
    rbe.filter(_sample(0, pressure=1.0))

    assert rbe.filter(_sample(1, pressure=1.05)) is None
    assert rbe.suppressed == 1


def test_value_beyond_the_deadband_is_reported() -> None:
    rbe = _rbe()
    rbe.filter(_sample(0, pressure=1.0))

    reported = rbe.filter(_sample(1, pressure=1.2))

    assert reported is not None and reported.values == {"pressure": 1.2}


def test_slow_drift_reports_once_it_leaves_the_deadband_of_the_last_reported_value() -> None:
    rbe = _rbe()
    rbe.filter(_sample(0, pressure=1.0))
    held = [rbe.filter(_sample(i, pressure=1.0 + 0.04 * i)) for i in (1, 2)]

    reported = rbe.filter(_sample(3, pressure=1.12))

    assert held == [None, None]
    assert reported is not None


def test_heartbeat_reports_an_unchanged_value() -> None:
    rbe = _rbe(heartbeat=60)
    rbe.filter(_sample(0, pressure=1.0))
    rbe.filter(_sample(30, pressure=1.0))

    assert rbe.filter(_sample(60, pressure=1.0)) is not None


def test_quality_change_is_reported_within_the_deadband() -> None:
    rbe = _rbe()
    rbe.filter(_sample(0, pressure=1.0))

    assert rbe.filter(_sample(1, Quality.STALE, pressure=1.0)) is not None


def test_only_the_moving_values_of_a_sample_are_kept() -> None:
    rbe = _rbe()
    rbe.filter(_sample(0, pressure=1.0, frequency=50.0))

    reported = rbe.filter(_sample(1, pressure=1.01, frequency=49.0))

    assert reported is not None and reported.values == {"frequency": 49.0}


def test_text_value_with_a_deadband_reports_on_change_only() -> None:
    rbe = ReportByException({("pump-1", "mode"): PointPolicy(0.0, 600)})
    rbe.filter(_sample(0, mode="auto"))

    assert rbe.filter(_sample(1, mode="auto")) is None
    assert rbe.filter(_sample(2, mode="manual")) is not None


def test_site_policies_follow_profile_deadbands_and_the_default_heartbeat(
    example_site: Site,
) -> None:
    policies = site_policies(example_site, heartbeat=300)

    assert policies[("pump-1", "outlet_pressure")] == PointPolicy(0.005, 300)


def test_a_sample_gives_one_normalized_reading_per_metric() -> None:
    s = Sample("hexie", "pump-1", "pump-1", "water_pump", T0, {"p": 0.3}, {"p": "MPa"})

    assert list(s.readings()) == [Reading("pump-1", "p", 0.3, "MPa", Quality.GOOD, T0)]


def test_non_finite_floats_are_left_out_of_the_line() -> None:
    line = to_line(_sample(0, pressure=float("nan"), frequency=50.0))

    assert " frequency=50.0 " in line and "pressure" not in line


def test_a_sample_with_nothing_storable_has_no_line() -> None:
    assert to_line(_sample(0, pressure=float("inf"))) == ""


def test_every_value_type_has_its_line_protocol_form() -> None:
    """Floats (the inline fast path, negative infinity and NaN left out), integers, bools (not
    taken for integers), text with quotes, backslashes and newlines, keys with spaces, commas
    and equals signs; the timestamp in nanoseconds, exact to the microsecond."""
    at = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    s = Sample(
        "hexie",
        "pump 1",
        "dev,1",
        "water_pump",
        at,
        {
            "pressure": 0.35,
            "down": float("-inf"),
            "count": 7,
            "running": True,
            "fault": False,
            "state": 'say "hi"\\\nnow',
            "a key=x,y": -1.5e-07,
        },
    )
    line = to_line(s)
    assert line == (
        "water_pump,site=hexie,asset=pump\\ 1,device=dev\\,1 "
        'pressure=0.35,count=7i,running=true,fault=false,state="say \\"hi\\"\\\\\\nnow",'
        "a\\ key\\=x\\,y=-1.5e-07 1772352000123456000"
    )
    assert to_line(s) == line  # the escapes come from the cache the second time
