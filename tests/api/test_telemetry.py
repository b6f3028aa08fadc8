"""趋势 read: what the gateway wrote comes back as window means, from victoria-metrics (written
through its InfluxDB v2 write API by the gateway's sink) and from the local store; bad queries
are 422 naming the parameter."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from gateway.readings import Sample
from gateway.sinks.influx import InfluxSink
from gateway.sinks.local_store import LocalStore, LocalStoreReader
from gateway.sinks.reads import SeriesQuery, TelemetryReader, aligned
from gateway.sinks.victoria import VictoriaReader
from propwatch.clock import ManualClock
from tests.api.conftest import Tokens, bearer
from tests.support.servers import VictoriaMetrics, free_port, start_victoria_metrics, wait_until

URL = "/api/v1/assets/hexie/pump-1/telemetry"
Writer = Callable[[list[Sample]], None]

# each test its own hour, in the past (victoria-metrics drops points more than two days ahead)
# and far from what other tests write to the shared server
_days = iter(range(10_000))


def pump_samples(start: datetime, seconds: int, seed: int = 7) -> list[Sample]:
    """A 1 s series of a pump: pressure with noise, and a running flag that changes."""
    rnd = random.Random(seed)
    return [
        Sample(
            "hexie",
            "pump-1",
            "pump-1",
            "water_pump",
            start + timedelta(seconds=i),
            {
                "outlet_pressure": 0.3 + 0.05 * math.sin(i / 300) + rnd.uniform(-0.01, 0.01),
                "running": (i // 700) % 2 == 0,
            },
            {"outlet_pressure": "MPa"},
        )
        for i in range(seconds)
    ]


def window_means(samples: list[Sample], point: str, step: int) -> list[tuple[datetime, float]]:
    """The means the answer should hold, computed here from what was written."""
    windows: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        windows[int(s.at.timestamp()) // step * step].append(float(s.values[point]))
    return [(datetime.fromtimestamp(t, UTC), sum(v) / len(v)) for t, v in sorted(windows.items())]


def returned(answer: dict[str, object], point: str) -> list[tuple[datetime, float]]:
    series = {s["point"]: s for s in answer["series"]}  # type: ignore[attr-defined]
    return [(datetime.fromisoformat(t), v) for t, v in series[point]["points"]]


def assert_same(got: list[tuple[datetime, float]], want: list[tuple[datetime, float]]) -> None:
    assert [t for t, _ in got] == [t for t, _ in want]
    for (t, g), (_, w) in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-9, abs=1e-12), t


@pytest.fixture(params=["victoriametrics", "local"])
def store(
    request: pytest.FixtureRequest, ctx: AppContext, tmp_path: Path
) -> Iterator[tuple[Writer, Callable[[], None]]]:
    """The reader in the API's context, and how the gateway writes to that store."""
    reader: TelemetryReader
    if request.param == "victoriametrics":
        vm: VictoriaMetrics = request.getfixturevalue("victoria_metrics")
        sink = InfluxSink(vm.url, "token", "org", "propwatch")
        reader = VictoriaReader(vm.url)
        ctx.telemetry = reader
        yield sink.write_samples, vm.flush
        sink.client.close()
    else:
        local = LocalStore(tmp_path / "telemetry.db")
        reader = LocalStoreReader(tmp_path / "telemetry.db")
        ctx.telemetry = reader
        yield local.write_sync, lambda: None
        local._db.close()
    reader.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 12, 1, tzinfo=UTC))


@pytest.fixture
def hour(clock: ManualClock) -> datetime:
    """An hour of its own (two days from any other test's), the clock at its end."""
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=2 * next(_days))
    clock.set(start + timedelta(hours=1))
    return start


def _wait_for(client: TestClient, token: str, params: dict[str, str], count: int) -> dict:  # type: ignore[type-arg]
    """victoria-metrics makes ingested points searchable shortly after the write."""
    answers: list[dict] = []  # type: ignore[type-arg]

    def complete() -> bool:
        r = client.get(URL, params=params, headers=bearer(token))
        assert r.status_code == 200, r.text
        answers.append(r.json())
        return sum(len(s["points"]) for s in answers[-1]["series"]) >= count

    wait_until(complete, 20, "the written points to be readable")
    return answers[-1]


def test_the_trend_holds_the_means_of_what_the_gateway_wrote(
    client: TestClient, tokens: Tokens, store: tuple[Writer, Callable[[], None]], hour: datetime
) -> None:
    write, flush = store
    samples = pump_samples(hour, 3600)
    write(samples)
    flush()
    params = {
        "points": "outlet_pressure,running",
        "from": hour.isoformat(),
        "to": (hour + timedelta(hours=1)).isoformat(),
        "step": "60s",
    }
    answer = _wait_for(client, tokens.duty, params, 120)
    assert (datetime.fromisoformat(answer["from"]), answer["step"]) == (hour, 60)
    faces = {s["point"]: (s["label"], s["unit"]) for s in answer["series"]}
    assert faces == {"outlet_pressure": ("出水压力", "MPa"), "running": ("运行", "")}
    assert_same(returned(answer, "outlet_pressure"), window_means(samples, "outlet_pressure", 60))
    assert_same(returned(answer, "running"), window_means(samples, "running", 60))


def test_a_range_with_a_gap_has_no_points_where_nothing_was_written(
    client: TestClient, tokens: Tokens, store: tuple[Writer, Callable[[], None]], hour: datetime
) -> None:
    write, flush = store
    before, after = pump_samples(hour, 600), pump_samples(hour + timedelta(minutes=40), 600)
    write(before + after)
    flush()
    params = {
        "points": "outlet_pressure",
        "from": hour.isoformat(),
        "to": (hour + timedelta(hours=1)).isoformat(),
        "step": "5m",
    }
    answer = _wait_for(client, tokens.technician, params, 4)
    assert_same(
        returned(answer, "outlet_pressure"),
        window_means(before + after, "outlet_pressure", 300),
    )
    assert len(answer["series"][0]["points"]) == 4  # 00-10 and 40-50: two windows each


def test_without_a_range_the_last_24_hours_come_in_at_most_1000_points(
    client: TestClient, tokens: Tokens, store: tuple[Writer, Callable[[], None]], hour: datetime
) -> None:
    write, flush = store
    samples = pump_samples(hour, 3600)
    write(samples)
    flush()
    answer = _wait_for(client, tokens.duty, {"points": "outlet_pressure"}, 30)
    assert answer["step"] == 120  # 86,400 s / 1,000 = 86.4 s, rounded up to a nice step
    start = datetime.fromisoformat(answer["from"])
    assert start == hour + timedelta(hours=1) - timedelta(hours=24)
    assert (datetime.fromisoformat(answer["to"]) - start) / timedelta(seconds=120) <= 1000
    assert_same(returned(answer, "outlet_pressure"), window_means(samples, "outlet_pressure", 120))


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"points": "no_such_point"}, "points"),
        ({"points": ""}, "points"),
        ({}, "points"),
        ({"points": ",".join(["outlet_pressure"] * 2 + [f"p{i}" for i in range(9)])}, "points"),
        (
            {
                "points": "outlet_pressure",
                "from": "2026-11-23T10:00:00+08:00",
                "to": "2026-11-23T09:00:00+08:00",
            },
            "from",
        ),
        ({"points": "outlet_pressure", "from": "yesterday"}, "from"),
        ({"points": "outlet_pressure", "to": "1700000000"}, "to"),
        ({"points": "outlet_pressure", "step": "1s"}, "step"),  # 86,400 points
        ({"points": "outlet_pressure", "step": "0.5"}, "step"),
        ({"points": "outlet_pressure", "step": "fast"}, "step"),
    ],
)
def test_a_bad_query_is_refused_with_422_naming_the_parameter(
    client: TestClient, tokens: Tokens, params: dict[str, str], param: str
) -> None:
    r = client.get(URL, params=params, headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert [e["loc"][-1] for e in r.json()["errors"]] == [param]


def test_a_token_of_another_site_may_not_read_the_trend(client: TestClient, tokens: Tokens) -> None:
    r = client.get(URL, params={"points": "outlet_pressure"}, headers=bearer(tokens.other_site))
    assert r.status_code == 403


def test_an_unknown_asset_is_404(client: TestClient, tokens: Tokens) -> None:
    r = client.get(
        "/api/v1/assets/hexie/pump-9/telemetry",
        params={"points": "outlet_pressure"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 404


def test_a_store_that_does_not_answer_is_503_not_500(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    ctx.telemetry = VictoriaReader(f"http://127.0.0.1:{free_port()}", timeout=2)
    r = client.get(URL, params={"points": "outlet_pressure"}, headers=bearer(tokens.duty))
    assert (r.status_code, r.json()["code"]) == (503, "telemetry_unavailable")
    assert r.headers["Retry-After"] == "5"


def test_the_record_of_an_asset_lists_its_points_with_labels_and_its_warranty(
    client: TestClient, tokens: Tokens
) -> None:
    r = client.get("/api/v1/assets/hexie/pump-1/record", headers=bearer(tokens.technician))
    assert r.status_code == 200, r.text
    record = r.json()
    assert (record["name"], record["model"], record["warranty_end"]) == (
        "1号生活水泵",
        "water_pump",
        "2027-06-01",
    )
    points = {p["name"]: p for p in record["points"]}
    assert points["outlet_pressure"] == {
        "name": "outlet_pressure",
        "label": "出水压力",
        "unit": "MPa",
        "numeric": True,
        "writable": False,
        "switch": False,
        "min": None,
        "max": None,
        "allowed": None,
    }
    # 遥控: what the device page's controls need of a writable point
    r = client.get("/api/v1/assets/hexie/lighting-b/record", headers=bearer(tokens.technician))
    panel = {p["name"]: p for p in r.json()["points"]}
    assert {
        k: panel["circuit_2_rated_current"][k] for k in ("writable", "switch", "min", "max")
    } == {
        "writable": True,
        "switch": False,
        "min": 0,
        "max": 100,
    }
    assert (panel["circuit_1_command"]["writable"], panel["circuit_1_command"]["switch"]) == (
        True,
        True,
    )
    assert panel["circuit_1_current"]["writable"] is False
    assert (
        client.get("/api/v1/assets/hexie/nope/record", headers=bearer(tokens.duty)).status_code
        == 404
    )


def test_a_range_reaching_past_now_ends_with_the_window_of_the_newest_reading(
    victoria_metrics: VictoriaMetrics,
) -> None:
    # victoria-metrics fills a range point later than its now with the point before it: the
    # reader must stop at now, and read the window still running as it is
    now = datetime.now(UTC).replace(microsecond=0)
    newest = now - timedelta(seconds=now.second % 5 + 5)  # a window's first second, seen here
    samples = [
        Sample(
            "near-now", "pump-1", "pump-1", "water_pump", newest - timedelta(seconds=s), {"x": s}
        )
        for s in range(300, -1, -1)
    ]
    sink = InfluxSink(victoria_metrics.url, "token", "org", "propwatch")
    sink.write_samples(samples)
    sink.client.close()
    victoria_metrics.flush()
    start, stop = aligned(now - timedelta(minutes=5), now + timedelta(minutes=1), 5)
    query = SeriesQuery("near-now", "pump-1", "water_pump", ("x",), start, stop, 5)
    reader = VictoriaReader(victoria_metrics.url)
    want = window_means([s for s in samples if s.at >= start], "x", 5)
    wait_until(lambda: len(reader.read(query)[0].values) >= len(want), 20, "the points")
    assert_same(reader.read(query)[0].values, want)
    reader.close()


@pytest.fixture(scope="module")
def victoria_metrics_as_deployed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VictoriaMetrics]:
    """A server with its own default `-search.latencyOffset` of 30 s, as it runs in production."""
    vm = start_victoria_metrics(tmp_path_factory.mktemp("vm-30s"), latency_offset="30s")
    yield vm
    vm.stop()


@pytest.mark.parametrize("step", [5, 60])
def test_the_newest_windows_hold_what_was_written_despite_the_stores_latency(
    victoria_metrics_as_deployed: VictoriaMetrics, step: int
) -> None:
    # within its latency offset of now, victoria-metrics gives a range point the value of the
    # one before it: read as a range, the last 30 s would repeat an older window's mean
    vm = victoria_metrics_as_deployed
    now = datetime.now(UTC).replace(microsecond=0)
    samples = [
        Sample(
            f"latency-{step}",
            "pump-1",
            "pump-1",
            "water_pump",
            now - timedelta(seconds=s),
            {"x": float(s * s % 97)},
        )
        for s in range(600, -1, -1)
    ]
    sink = InfluxSink(vm.url, "token", "org", "propwatch")
    sink.write_samples(samples)
    sink.client.close()
    vm.flush()
    start, stop = aligned(now - timedelta(minutes=10), now + timedelta(minutes=1), step)
    query = SeriesQuery(f"latency-{step}", "pump-1", "water_pump", ("x",), start, stop, step)
    reader = VictoriaReader(vm.url, latency=timedelta(seconds=30))
    want = window_means([s for s in samples if s.at >= start], "x", step)
    wait_until(lambda: len(reader.read(query)[0].values) >= len(want), 20, "the points")
    got = reader.read(query)[0].values
    reader.close()
    assert_same(got, want)
    assert got[-1][0] > now - timedelta(seconds=step)  # the window still running is there
