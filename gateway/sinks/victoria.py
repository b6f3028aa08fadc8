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

import httpx

from gateway.sinks.reads import Series, SeriesQuery, StoreUnreachable, at_ns, to_ns


def _label(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class VictoriaReader:
    name = "victoriametrics"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        """`url`: the single-node server (http://host:8428) or a vmselect tenant prefix
        (http://vmselect:8481/select/0/prometheus)."""
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)

    def _promql(self, query: SeriesQuery, point: str) -> str:
        selector = (
            f"{{__name__={_label(f'{query.kind}_{point}')},"
            f"site={_label(query.site)},asset={_label(query.asset)}}}"
        )
        window = f"[{query.step}s]"
        return f"sum(sum_over_time({selector}{window})) / sum(count_over_time({selector}{window}))"

    def read(self, query: SeriesQuery) -> list[Series]:
        first = query.start + timedelta(seconds=query.step) - timedelta(milliseconds=1)
        last = query.stop - timedelta(milliseconds=1)
        return [
            Series(point, self._range(self._promql(query, point), first, last, query.step))
            for point in query.points
        ]

    def _range(
        self, promql: str, first: datetime, last: datetime, step: int
    ) -> list[tuple[datetime, float]]:
        params = {
            "query": promql,
            "start": f"{to_ns(first) / 1e9:.3f}",
            "end": f"{to_ns(last) / 1e9:.3f}",
            "step": f"{step}s",
            "nocache": "1",
        }
        try:
            r = self.http.post(f"{self.url}/api/v1/query_range", data=params)
        except httpx.HTTPError as exc:
            raise StoreUnreachable(f"victoria-metrics: {exc}") from exc
        if r.status_code != 200:
            raise StoreUnreachable(f"victoria-metrics answered {r.status_code}: {r.text[:200]}")
        result = r.json()["data"]["result"]
        if not result:
            return []
        out: list[tuple[datetime, float]] = []
        for stamp, text in result[0]["values"]:
            value = float(text)
            if math.isfinite(value):
                # evaluated 1 ms before the window's end: its start is step - 1 ms earlier
                start_ms = round(float(stamp) * 1000) + 1 - step * 1000
                out.append((at_ns(start_ms * 1_000_000), value))
        return out

    def close(self) -> None:
        self.http.close()
