"""Which store trends are read from, and the windows a range is cut into."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.sinks.influx import InfluxReader
from gateway.sinks.local_store import LocalStoreReader
from gateway.sinks.reads import SeriesQuery, aligned, auto_step, make_reader
from gateway.sinks.victoria import VictoriaReader
from propwatch.settings import Settings


@pytest.mark.parametrize(
    ("env", "reader"),
    [
        ({}, LocalStoreReader),
        ({"influx_url": "http://influxdb:8086"}, InfluxReader),
        ({"influx_url": "http://vm:8428", "telemetry_reader": "victoriametrics"}, VictoriaReader),
        ({"influx_url": "http://influxdb:8086", "telemetry_reader": "local"}, LocalStoreReader),
    ],
)
def test_the_reader_follows_the_settings(env: dict[str, str], reader: type, tmp_path: Path) -> None:
    made = make_reader(Settings(var_dir=tmp_path, **env))  # type: ignore[arg-type]
    assert isinstance(made, reader)
    made.close()


def test_a_remote_reader_without_a_url_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PROPWATCH_TELEMETRY_READ_URL"):
        make_reader(Settings(var_dir=tmp_path, telemetry_reader="victoriametrics"))


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (timedelta(hours=1), 5),
        (timedelta(hours=24), 120),
        (timedelta(days=7), 900),
        (timedelta(days=30), 3600),
        (timedelta(days=365), 43200),
        (timedelta(days=3650), 345600),
    ],
)
def test_the_automatic_step_keeps_a_series_within_1000_points(span: timedelta, step: int) -> None:
    assert auto_step(span) == step
    assert span.total_seconds() / step <= 1000


def test_a_range_is_widened_to_whole_windows() -> None:
    start = datetime(2026, 12, 1, 8, 3, 20, tzinfo=UTC)
    first, last = aligned(start, start + timedelta(minutes=10), 300)
    assert (first, last) == (start.replace(minute=0, second=0), start.replace(minute=15, second=0))


def test_a_local_store_not_written_yet_has_empty_series(tmp_path: Path) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    query = SeriesQuery("hexie", "pump-1", "water_pump", ("outlet_pressure",), at, at, 60)
    [series] = LocalStoreReader(tmp_path / "telemetry.db").read(query)
    assert (series.point, series.values) == ("outlet_pressure", [])
