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

    def __init__(self, url: str, timeout: float = 10.0, clock: Clock | None = None) -> None:
        """`url`: the single-node server (http://host:8428) or a vmselect tenant prefix
        (http://vmselect:8481/select/0/prometheus). `clock`: the store's now (its wall clock)."""
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)
        self.clock: Clock = clock or SystemClock()

    def _mean(self, query: SeriesQuery, point: str, window: str) -> str:
        selector = (
            f"{{__name__={_label(f'{query.kind}_{point}')},"
            f"site={_label(query.site)},asset={_label(query.asset)}}}"
        )
        return (
            f"sum(sum_over_time({selector}[{window}])) / sum(count_over_time({selector}[{window}]))"
        )

    def read(self, query: SeriesQuery) -> list[Series]:
        """Windows that have ended by now through `query_range`; the last one, if it is still
        running or cut short by the query's stop, through an instant query at the earlier of
        the two. victoria-metrics replaces the value of a range point later than its now
        (`-search.latencyOffset`) with the point before it, so a range never reaches past now:
        that would repeat the last window's mean over empty ones."""
        step = timedelta(seconds=query.step)
        now = self.clock.now()
        upto = min(query.stop, now)  # a window ending past `stop` is partial too, not ended
        ended = max(query.start, query.start + (upto - query.start) // step * step)
        out = []
        for point in query.points:
            values = []
            if ended > query.start:
                values = self._range(
                    self._mean(query, point, f"{query.step}s"),
                    query.start + step - _MS,
                    ended - _MS,
                    query.step,
                )
            if ended < upto:
                # [ended, upto]: a lookbehind of (upto - ended) + 1 ms back from upto
                reach = (to_ns(upto) - to_ns(ended)) // 1_000_000 + 1
                mean = self._instant(self._mean(query, point, f"{reach}ms"), upto)
                if mean is not None:
                    values.append((ended, mean))
            out.append(Series(point, values))
        return out

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


def _seconds(t: datetime) -> str:
    return f"{to_ns(t) // 1_000_000 / 1000:.3f}"
