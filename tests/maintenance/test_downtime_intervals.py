"""停机区间: overlapping and touching stops merge, an open stop runs to the period's end, and the
figures agree with a minute-by-minute count of the same stops."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from maintenance.downtime.intervals import Cause, Interval, figures, merged

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _iv(start_min: int, end_min: int | None, ref: int = 0) -> Interval:
    end = None if end_min is None else T0 + timedelta(minutes=end_min)
    return Interval(T0 + timedelta(minutes=start_min), end, [Cause("alarm", ref, f"r{ref}")])


def test_overlapping_touching_and_open_stops() -> None:
    stops = merged([_iv(60, 120, 1), _iv(90, 180, 2), _iv(180, 200, 3), _iv(300, 310, 4)])
    assert [(s.start, s.end) for s in stops] == [
        (T0 + timedelta(minutes=60), T0 + timedelta(minutes=200)),
        (T0 + timedelta(minutes=300), T0 + timedelta(minutes=310)),
    ]
    assert [c.ref for c in stops[0].causes] == [1, 2, 3]
    still = merged([_iv(400, None, 5), _iv(420, 430, 6)])
    assert len(still) == 1 and still[0].end is None and len(still[0].causes) == 2


def test_figures_match_a_minute_count() -> None:
    rng = random.Random(17)
    period = 30 * 24 * 60
    for _ in range(50):
        raw = []
        for ref in range(rng.randint(0, 12)):
            start = rng.randint(-600, period + 600)
            end = None if rng.random() < 0.1 else start + rng.randint(1, 900)
            raw.append(_iv(start, end, ref))
        down_minutes = set()
        for iv in raw:
            a = int((iv.start - T0).total_seconds() // 60)
            b = period if iv.end is None else int((iv.end - T0).total_seconds() // 60)
            down_minutes.update(m for m in range(max(a, 0), min(b, period)))
        stops = merged(raw)
        f = figures(stops, T0, T0 + timedelta(minutes=period))
        assert f.down_hours == round(len(down_minutes) / 60, 2)
        up = period - len(down_minutes)
        assert f.availability == round(up / period, 4)
        # a failure is a stop that began within the period: the first minute of a down run
        began = sum(
            1
            for m in down_minutes
            if (m - 1 not in down_minutes and m > 0)
            or (m == 0 and any(iv.start == T0 for iv in raw))
        )
        assert f.failures == began
        if began:
            assert f.mtbf_hours == round(up / 60 / began, 2)
            assert f.mttr_hours == round(len(down_minutes) / 60 / began, 2)
        else:
            assert f.mtbf_hours is None and f.mttr_hours is None
