"""The read side of the telemetry stores: an asset's points over a time range, downsampled.

Every store answers the same question the same way, so a trend reads alike whichever store the
deployment writes to: the range is cut into windows of `step` seconds aligned to multiples of
`step` since 1970-01-01 UTC, each window [t, t + step) gives the mean of the readings in it
(booleans as 0/1) stamped `t`, and a window without readings gives no point. The store does the
averaging (Flux `aggregateWindow`, victoria-metrics rollups, SQL `GROUP BY`): a 24 h range of a
1 s series never travels as 86,400 points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from propwatch.settings import Settings

MAX_POINTS_PER_SERIES = 1000
"""The most windows one series of an answer may have (a chart's width in pixels, about)."""

NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
"""Automatic steps in seconds: a chart's points fall on whole minutes and hours."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StoreUnreachable(Exception):
    """The telemetry store did not answer (down, refused, timed out): the API says 503."""


@dataclass(frozen=True)
class SeriesQuery:
    """The points of one asset, as the gateway wrote them (measurement = the profile's kind)."""

    site: str
    asset: str
    kind: str
    points: tuple[str, ...]
    start: datetime
    stop: datetime
    step: int

    @property
    def windows(self) -> int:
        return int((self.stop - self.start).total_seconds()) // self.step


@dataclass(frozen=True)
class Series:
    """One point's window means, oldest first: (window start, mean)."""

    point: str
    values: list[tuple[datetime, float]]


class TelemetryReader(Protocol):
    name: str

    def read(self, query: SeriesQuery) -> list[Series]:
        """One series per point of the query, in its order; blocking (call it in a thread)."""
        ...

    def close(self) -> None: ...


def auto_step(span: timedelta, max_points: int = MAX_POINTS_PER_SERIES) -> int:
    """The smallest nice step giving at most `max_points` windows over `span`."""
    need = span.total_seconds() / max_points
    for step in NICE_STEPS:
        if step >= need:
            return step
    return math.ceil(need / 86400) * 86400  # whole days beyond half a day


def aligned(start: datetime, stop: datetime, step: int) -> tuple[datetime, datetime]:
    """[start, stop) widened to whole windows of `step` seconds since the epoch."""
    first = int((start - _EPOCH).total_seconds()) // step * step
    last = -(-math.ceil((stop - _EPOCH).total_seconds()) // step) * step
    return _EPOCH + timedelta(seconds=first), _EPOCH + timedelta(seconds=max(last, first + step))


def at_ns(ns: int) -> datetime:
    """A store's nanosecond timestamp as an aware datetime (whole microseconds)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def to_ns(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


ReaderKind = Literal["auto", "influxdb", "victoriametrics", "local"]


def make_reader(settings: Settings) -> TelemetryReader:
    """The reader of the store the gateway writes to (`PROPWATCH_TELEMETRY_READER`).

    `auto` reads InfluxDB when `PROPWATCH_INFLUX_URL` is set and the local store otherwise;
    victoria-metrics takes the gateway's InfluxDB writes but not Flux, so a deployment writing
    to it says `victoriametrics`.
    """
    kind = settings.telemetry_reader
    url = settings.telemetry_read_url or settings.influx_url
    if kind == "auto":
        kind = "influxdb" if settings.influx_url else "local"
    if kind == "local":
        from gateway.sinks.local_store import LocalStoreReader

        return LocalStoreReader(settings.var_dir / "telemetry.db")
    if url is None:
        raise ValueError(
            f"PROPWATCH_TELEMETRY_READER={kind} needs PROPWATCH_TELEMETRY_READ_URL "
            "or PROPWATCH_INFLUX_URL"
        )
    if kind == "victoriametrics":
        from gateway.sinks.victoria import VictoriaReader

        return VictoriaReader(url, latency=timedelta(seconds=settings.telemetry_read_latency))
    from gateway.sinks.influx import InfluxReader

    return InfluxReader(
        url,
        settings.influx_token.get_secret_value(),
        settings.influx_org,
        settings.influx_bucket,
    )
