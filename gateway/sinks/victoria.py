"""victoria-metrics read side: window means through its Prometheus `query_range` API.

The gateway writes to victoria-metrics through its InfluxDB v2 write API, where measurement
`water_pump` with field `outlet_pressure` becomes the metric `water_pump_outlet_pressure` with
the tags (site, asset, device) as labels. A rollup evaluated at T looks back over (T - w, T]; an
evaluation at t + step - 1 ms over `[step]` therefore covers [t, t + step) of millisecond
timestamps (the precision victoria-metrics keeps), the windows of `gateway.sinks.reads`. The
mean is sum over count across every series of the asset's point, so a device swapped mid-window
still averages its readings, not its series.

`nocache=1`: the store-and-forward outbox replays old batches after an outage, and a cached
answer for a range would hide what it filled in.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import httpx

from gateway.sinks.reads import Series, SeriesQuery, StoreUnreachable, at_ns, to_ns
from propwatch.clock import Clock, SystemClock


def _label(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class VictoriaReader:
    name = "victoriametrics"

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
        latency: timedelta = timedelta(seconds=30),
    ) -> None:
        """`url`: the single-node server (http://host:8428) or a vmselect tenant prefix
        (http://vmselect:8481/select/0/prometheus). `clock`: the store's now (its wall clock).
        `latency`: the store's `-search.latencyOffset` (30 s unless it was started otherwise)."""
        self.url = url.rstrip("/")
        self.latency = max(latency, _MIN_LATENCY)
        self.http = httpx.Client(timeout=timeout)
        self.clock: Clock = clock or SystemClock()

    @staticmethod
    def _selector(query: SeriesQuery, point: str) -> str:
        return (
            f"{{__name__={_label(f'{query.kind}_{point}')},"
            f"site={_label(query.site)},asset={_label(query.asset)}}}"
        )

    def _mean(self, query: SeriesQuery, point: str, window: str) -> str:
        selector = self._selector(query, point)
        return (
            f"sum(sum_over_time({selector}[{window}])) / sum(count_over_time({selector}[{window}]))"
        )

    def read(self, query: SeriesQuery) -> list[Series]:
        """Windows that ended before the store's latency through `query_range`; the newer ones,
        and the one still running or cut short by the query's stop, apart. victoria-metrics
        replaces the value of every range point within its `-search.latencyOffset` of now
        (never less than a second, whatever the flag says) with the point before it: a range
        read up to now would repeat the previous window's mean over the newest ones."""
        step = timedelta(seconds=query.step)
        now = self.clock.now()
        upto = min(query.stop, now)  # a window ending past `stop` is partial too, not ended
        settled = _floor(query.start, min(upto, now - self.latency), step)
        out = []
        for point in query.points:
            values = []
            if settled > query.start:
                values = self._range(
                    self._mean(query, point, f"{query.step}s"),
                    query.start + step - _MS,
                    settled - _MS,
                    query.step,
                )
            if settled < upto:
                values += self._tail(query, point, settled, upto)
            out.append(Series(point, values))
        return out

    def _tail(
        self, query: SeriesQuery, point: str, settled: datetime, upto: datetime
    ) -> list[tuple[datetime, float]]:
        """The windows of [settled, upto) through instant queries, which the latency leaves
        alone: a mean per window where windows are as long as the latency or longer (two at
        most), else the raw readings (a latency's worth), averaged here."""
        step = timedelta(seconds=query.step)
        if step >= self.latency:
            out = []
            t = settled
            while t < upto:
                end = min(t + step, upto)
                mean = self._instant(self._mean(query, point, f"{_ms(end - t)}ms"), end - _MS)
                if mean is not None:
                    out.append((t, mean))
                t += step
            return out
        # a second more than [settled, upto) is asked for and cut here to the millisecond, so
        # the store's own rounding of the window's edges cannot drop a window's first reading
        series = self._get(
            "/api/v1/query",
            {
                "query": f"{self._selector(query, point)}[{_ms(upto - settled) + 2000}ms]",
                "time": _seconds(upto + timedelta(seconds=1)),
            },
        )
        first, last = to_ns(settled) // 1_000_000, to_ns(upto) // 1_000_000
        width = query.step * 1000
        sums: dict[int, list[float]] = {}
        for one in series:
            for stamp, text in one.get("values", []):
                value = float(text)
                ms = round(float(stamp) * 1000)
                if math.isfinite(value) and first <= ms < last:
                    index = (ms - first) // width
                    acc = sums.setdefault(index, [0.0, 0.0])
                    acc[0] += value
                    acc[1] += 1
        return [(settled + index * step, total / n) for index, (total, n) in sorted(sums.items())]

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            r = self.http.post(f"{self.url}{path}", data={**params, "nocache": "1"})
        except httpx.HTTPError as exc:
            raise StoreUnreachable(f"victoria-metrics: {exc}") from exc
        if r.status_code != 200:
            raise StoreUnreachable(f"victoria-metrics answered {r.status_code}: {r.text[:200]}")
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def _range(
        self, promql: str, first: datetime, last: datetime, step: int
    ) -> list[tuple[datetime, float]]:
        result = self._get(
            "/api/v1/query_range",
            {"query": promql, "start": _seconds(first), "end": _seconds(last), "step": f"{step}s"},
        )
        out: list[tuple[datetime, float]] = []
        for stamp, text in result[0]["values"] if result else []:
            value = float(text)
            if math.isfinite(value):
                # evaluated 1 ms before the window's end: its start is step - 1 ms earlier
                start_ms = round(float(stamp) * 1000) + 1 - step * 1000
                out.append((at_ns(start_ms * 1_000_000), value))
        return out

    def _instant(self, promql: str, at: datetime) -> float | None:
        result = self._get("/api/v1/query", {"query": promql, "time": _seconds(at)})
        if not result:
            return None
        value = float(result[0]["value"][1])
        return value if math.isfinite(value) else None

    def close(self) -> None:
        self.http.close()


_MS = timedelta(milliseconds=1)
_MIN_LATENCY = timedelta(seconds=2)
"""victoria-metrics adjusts the last second of a range even at `-search.latencyOffset=0s`."""


def _floor(start: datetime, t: datetime, step: timedelta) -> datetime:
    """The last window boundary at or before `t`, not before `start`."""
    return max(start, start + (t - start) // step * step)


def _ms(d: timedelta) -> int:
    return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000


def _seconds(t: datetime) -> str:
    return f"{to_ns(t) // 1_000_000 / 1000:.3f}"
