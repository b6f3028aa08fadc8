"""巡更签到 over the API on SQLite and PostgreSQL, on the injected clock: check-ins counted for
their round, a late one, a missed round counted once however often it is read, a night round
across midnight counted on the day it starts, and bad input refused with nothing kept.

The example site's patrols (examples/hexie-garden/site.yaml): 电梯巡查 lift-1-1 at 09:00 and
15:00 for 3 h each, late up to 1 h after; 公共区域巡查 lobby-1 and stair-2 every 2 h from 08:00
to 20:00 (rounds at 08, 10, 12, 14, 16, 18), no grace. Shanghai is UTC+8.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.deps import AppContext
from maintenance.quality import patrols
from maintenance.quality.models import PatrolCheckIn
from propwatch.clock import ManualClock
from propwatch.patrols import PatrolPlan
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

BASE = "/api/v1/sites/hexie/patrol"
DAY = datetime(2026, 11, 24, tzinfo=UTC)  # the Tuesday after the fixtures' clock (Monday 10:00)


def _at(clock: ManualClock, hhmm: str, days: int = 0) -> None:
    """Set the clock to local (Shanghai) time `hhmm` on DAY + days."""
    h, m = map(int, hhmm.split(":"))
    clock.set(DAY + timedelta(days=days, hours=h - 8, minutes=m))


def _check_in(client: TestClient, token: str, point: str, **extra: Any) -> dict[str, Any]:
    r = client.post(f"{BASE}/check-ins", json={"point": point, **extra}, headers=bearer(token))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _day(client: TestClient, token: str, **params: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/rounds", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _statuses(day: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    return {
        (r["patrol"], r["window_local"], p["point"]): p["status"]
        for r in day["rounds"]
        for p in r["points"]
    }


def test_a_day_of_rounds_on_time_late_and_missed_each_counted_once(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    _at(clock, "07:00")
    before = _day(client, tokens.duty)
    assert before["date"] == "2026-11-24"
    # 2 lift rounds × 1 point + 6 public rounds × 2 points
    assert (before["due"], before["missed"], before["left"]) == (14, 0, 0)
    assert {r["window_local"] for r in before["rounds"] if r["patrol"] == "public-2h"} == {
        "08:00–10:00",
        "10:00–12:00",
        "12:00–14:00",
        "14:00–16:00",
        "16:00–18:00",
        "18:00–20:00",
    }

    _at(clock, "08:10")
    first = _check_in(client, tokens.technician, "lobby-1", note="地面干净")
    assert (first["point_name"], first["person_name"], first["checked_at_local"]) == (
        "1栋大堂",
        "王工",
        "11月24日 08:10",
    )
    assert [(c["patrol"], c["window_local"], c["status_zh"]) for c in first["counted"]] == [
        ("public-2h", "08:00–10:00", "已巡")
    ]
    # what is left of this point's round: stair-2 still to walk
    now_round = next(r for r in first["today"]["rounds"] if r["window_local"] == "08:00–10:00")
    assert [(p["point"], p["status"]) for p in now_round["points"]] == [
        ("lobby-1", "on_time"),
        ("stair-2", "open"),
    ]
    assert now_round["left"] == 1 and now_round["who"] == ["赵保安"]

    # 10:20: stair-2 counts for the round now on, not late for 08:00 (that one had no grace)
    _at(clock, "10:20")
    second = _check_in(client, tokens.other_technician, "stair-2")
    assert [(c["window_local"], c["status"]) for c in second["counted"]] == [
        ("10:00–12:00", "on_time")
    ]
    assert second["person_name"] == "李师傅"

    # 12:20: the lift's 09:00–12:00 round is over, but within its hour of grace: late
    _at(clock, "12:20")
    third = _check_in(client, tokens.technician, "lift-1-1")
    assert [(c["patrol"], c["window_local"], c["status_zh"]) for c in third["counted"]] == [
        ("lift-daily", "09:00–12:00", "补巡")
    ]
    # a second scan of the same point in the same round counts for nothing
    again = _check_in(client, tokens.technician, "lift-1-1")
    assert again["counted"] == []

    noon = _day(client, tokens.duty)
    # on time: lobby-1 08, stair-2 10; late: lift 09; missed: stair-2 08, lobby-1 10
    assert (noon["on_time"], noon["late"], noon["missed"]) == (2, 1, 2)
    # left now: the 12:00 round's two points (the lift's 15:00 round has not begun)
    assert noon["left"] == 2
    assert sorted((m["window_local"], m["point_name"]) for m in noon["missed_points"]) == [
        ("08:00–10:00", "2栋消防楼梯"),
        ("10:00–12:00", "1栋大堂"),
    ]
    assert {tuple(m["who"]) for m in noon["missed_points"]} == {("赵保安",)}
    # read again later: the same misses, not counted twice
    _at(clock, "12:25")
    assert _day(client, tokens.duty)["missed"] == 2

    # next morning the whole day is decided: lift 15:00 (1) and public 12–18 (4 rounds × 2) missed
    _at(clock, "03:00", days=1)
    done = _day(client, tokens.duty, date="2026-11-24")
    assert (done["due"], done["on_time"], done["late"], done["missed"], done["left"]) == (
        14,
        2,
        1,
        2 + 1 + 8,
        0,
    )
    assert done["on_time"] + done["late"] + done["missed"] == done["due"]
    statuses = _statuses(done)
    assert statuses[("lift-daily", "09:00–12:00", "lift-1-1")] == "late"
    assert statuses[("public-2h", "08:00–10:00", "lobby-1")] == "on_time"
    # the new day has begun on its own
    today = _day(client, tokens.duty)
    assert (today["date"], today["missed"], today["on_time"]) == ("2026-11-25", 0, 0)

    # only the patrols of one point (what the patrol page shows)
    lift_only = _day(client, tokens.technician, date="2026-11-24", point="lift-1-1")
    assert {r["patrol"] for r in lift_only["rounds"]} == {"lift-daily"}
    with ctx.db.session() as s:
        rows = s.scalars(select(PatrolCheckIn).order_by(PatrolCheckIn.id)).all()
        assert [(r.point_id, r.person) for r in rows] == [
            ("lobby-1", "wang-gong"),
            ("stair-2", "li-shifu"),
            ("lift-1-1", "wang-gong"),
            ("lift-1-1", "wang-gong"),
        ]
        assert rows[0].note == "地面干净"


def test_a_night_round_across_midnight_is_counted_on_the_day_it_starts(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    night = PatrolPlan.model_validate(
        {
            "id": "night",
            "name": "夜间巡查",
            "points": ["gate-north"],
            "every": "2h",
            "from": "22:00",
            "until": "02:00",
        }
    )
    late_lift = PatrolPlan.model_validate(
        {
            "id": "late-lift",
            "name": "电梯夜检",
            "points": ["lift-1-1"],
            "times": ["23:00"],
            "window": "2h",
        }
    )
    quality = example_site.spec.quality.model_copy(update={"patrols": [night, late_lift]})
    spec = example_site.spec.model_copy(update={"quality": quality})
    evening, morrow = DAY.date(), DAY.date() + timedelta(days=1)
    assert [s.strftime("%H:%M") for s in night.starts()] == ["22:00", "00:00"]
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    with ctx.db.session() as s:
        # 00:30 the next morning: the 00:00 round belongs to the evening before, the 23:00 lift
        # round (its window to 01:00) too
        _at(clock, "00:30", days=1)
        patrols.check_in(s, spec, "hexie", "gate-north", "zhao-ba", clock.now())
        patrols.check_in(s, spec, "hexie", "lift-1-1", "wang-gong", clock.now())
        _at(clock, "03:00", days=1)
        night_of = patrols.day_rounds(s, spec, "hexie", evening, clock.now())
        assert [
            (r.round.patrol.id, r.round.start.astimezone(spec.site.tz).strftime("%d %H:%M"))
            for r in night_of
        ] == [("night", "24 22:00"), ("late-lift", "24 23:00"), ("night", "25 00:00")]
        got = {(r.round.patrol.id, r.round.start.hour): r.points[0].status.value for r in night_of}
        # UTC hours: 22:00 local is 14, 23:00 is 15, 00:00 is 16
        assert got == {
            ("night", 14): "missed",
            ("late-lift", 15): "on_time",
            ("night", 16): "on_time",
        }
        # the next day's rounds start that evening: nothing of the night before is in them
        next_day = patrols.day_rounds(s, spec, "hexie", morrow, clock.now())
        assert [r.round.day for r in next_day] == [morrow] * 3
        assert all(p.status.value == "upcoming" for r in next_day for p in r.points)
        missed = [
            p
            for d in (evening, morrow)
            for r in patrols.day_rounds(s, spec, "hexie", d, clock.now())
            for p in r.points
            if p.status.value == "missed"
        ]
        assert len(missed) == 1


def test_bad_check_ins_are_refused_naming_the_field_and_nothing_is_kept(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"point": "pump-1"}, 422, "point"),  # an asset, but no patrol names it
        ({"point": "nowhere"}, 422, "point"),
        ({}, 422, "point"),
        ({"point": "lobby-1", "note": "x" * 501}, 422, "note"),
        ({"point": "lobby-1", "checked_at": "2026-01-01T00:00:00Z"}, 422, "checked_at"),
    ]
    for body, status, field in cases:
        r = client.post(f"{BASE}/check-ins", json=body, headers=bearer(tokens.technician))
        assert r.status_code == status, (body, r.text)
        assert field in r.text, (body, r.text)
    r = client.post(
        f"{BASE}/check-ins", json={"point": "lobby-1"}, headers=bearer(tokens.other_site)
    )
    assert r.status_code == 403
    r = client.get(f"{BASE}/rounds", params={"point": "nowhere"}, headers=bearer(tokens.duty))
    assert r.status_code == 404
    r = client.get(f"{BASE}/rounds", params={"date": "2026-13-01"}, headers=bearer(tokens.duty))
    assert r.status_code == 422 and "date" in r.text
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(PatrolCheckIn)) == 0
