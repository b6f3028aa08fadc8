"""趋势: what a telemetry read asks of the store, checked, and its answer labelled.

The range defaults to the last 24 h; the step, unless given, is the smallest nice one that keeps
a series within `MAX_POINTS_PER_SERIES` windows. Every refusal is a 422 naming the query
parameter: an unknown or text point, too many points, a range that is empty or backwards, a
step that would give more windows than a series may have.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.exceptions import RequestValidationError

from api.problems import ApiProblem
from api.telemetry_schemas import TelemetryOut, TelemetrySeries
from gateway.sinks.reads import (
    MAX_POINTS_PER_SERIES,
    SeriesQuery,
    StoreUnreachable,
    TelemetryReader,
    aligned,
    auto_step,
)
from propwatch.durations import parse_seconds
from propwatch.profiles import PointFace
from propwatch.site import Site

DEFAULT_SPAN = timedelta(hours=24)
MAX_POINTS_PER_READ = 8
"""Series one answer may carry: a chart of more is unreadable, and each is a store query."""


def _refuse(param: str, zh: str, en: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", param), "msg": f"{zh} ({en})", "type": "value_error"}]
    )


def _points(text: str | None, faces: dict[str, PointFace]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))
    if not names:
        raise _refuse("points", "请至少指定一个测点", "name at least one point")
    if len(names) > MAX_POINTS_PER_READ:
        raise _refuse(
            "points",
            f"一次最多 {MAX_POINTS_PER_READ} 个测点，这里有 {len(names)} 个",
            f"at most {MAX_POINTS_PER_READ} points a read, got {len(names)}",
        )
    for name in names:
        face = faces.get(name)
        if face is None:
            known = "、".join(sorted(faces)) or "无"
            raise _refuse(
                "points",
                f"该设备没有测点 {name}（可选：{known}）",
                f"the asset has no point {name!r}",
            )
        if not face.numeric:
            raise _refuse(
                "points", f"测点 {face.label} 是文本，没有趋势", f"point {name!r} is text"
            )
    return names


def _step(text: str | None, start: datetime, stop: datetime) -> int:
    span = stop - start
    if text is None:
        return auto_step(span)
    try:
        seconds = parse_seconds(text)
    except ValueError as exc:
        raise _refuse("step", f"步长无效：{exc}", f"bad step {text!r}") from exc
    if seconds < 1 or seconds != int(seconds):
        raise _refuse("step", "步长须为整秒，至少 1 秒", "the step is whole seconds, at least 1")
    step = int(seconds)
    windows = -(-int(span.total_seconds()) // step)
    if windows > MAX_POINTS_PER_SERIES:
        least = auto_step(span)
        raise _refuse(
            "step",
            f"步长 {step} 秒会有 {windows} 个点，超过 {MAX_POINTS_PER_SERIES}；"
            f"此范围步长至少 {least} 秒",
            f"step {step}s gives {windows} points, more than {MAX_POINTS_PER_SERIES}",
        )
    return step


def plan_read(
    site: Site,
    asset: str,
    points: str | None,
    start: datetime | None,
    stop: datetime | None,
    step: str | None,
    now: datetime,
) -> SeriesQuery:
    """The store query for a request, or the 422 that says what is wrong with it."""
    faces = site.point_faces(asset)
    names = _points(points, faces)
    stop = stop or now
    start = start or stop - DEFAULT_SPAN
    if start >= stop:
        raise _refuse("from", "开始时间须早于结束时间", "from must be before to")
    seconds = _step(step, start, stop)
    first, last = aligned(start, stop, seconds)
    profile = site.profile_of_asset(asset)
    assert profile is not None  # it has points
    return SeriesQuery(site.id, asset, profile.kind, names, first, last, seconds)


def read_trend(
    reader: TelemetryReader | None, site: Site, asset_name: str, query: SeriesQuery
) -> TelemetryOut:
    """Read the store (blocking: the route runs in the thread pool) and label the series."""
    if reader is None:
        raise ApiProblem(503, "未配置遥测存储 (no telemetry store)", code="telemetry_unavailable")
    try:
        found = reader.read(query)
    except StoreUnreachable as exc:
        raise ApiProblem(
            503,
            f"遥测存储暂时无法读取 (telemetry store unreachable: {exc})",
            code="telemetry_unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    faces = site.point_faces(query.asset)
    return TelemetryOut(
        site_id=site.id,
        asset=query.asset,
        asset_name=asset_name,
        start=query.start,
        stop=query.stop,
        step=query.step,
        store=reader.name,
        series=[
            TelemetrySeries(
                point=s.point, label=faces[s.point].label, unit=faces[s.point].unit, points=s.values
            )
            for s in found
        ],
    )
