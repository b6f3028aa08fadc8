"""月度品质检查评比 over the API on SQLite and PostgreSQL: a month seeded through the API on the
injected clock (inspections of both zones and none, findings, rectifications walked through
their lifecycle), and its league, trend and frequent types checked against figures worked out
by hand from the seed below. Month boundaries are Shanghai's: an inspection at 23:30 local on
30 November is November's, one at 00:30 on 1 December (still 30 November in UTC) December's,
one at 07:30 on 1 November (31 October in UTC) November's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.quality.frequent import frequent_findings
from propwatch.clock import ManualClock
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = "/api/v1/sites/hexie"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A local time of 2026 in Shanghai."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(10, 30, 10).astimezone(UTC))  # Friday 30 October, 10:00


def pct(score: float, maximum: float) -> float:
    return score / maximum * 100


class Seed:
    """Drives the API: work steps as the admin token, re-checks as the duty room's."""

    def __init__(self, client: TestClient, tokens: Tokens, clock: ManualClock) -> None:
        self.client, self.tokens, self.clock = client, tokens, clock
        self.rect: dict[str, int] = {}

    def when(self, t: datetime) -> None:
        self.clock.set(t.astimezone(UTC))

    def find(self, name: str, **body: Any) -> None:
        r = self.client.post(f"{BASE}/findings", json=body, headers=bearer(self.tokens.duty))
        assert r.status_code == 201, r.text
        self.rect[name] = r.json()["id"]

    def inspect(self, zone: str | None, rects: list[str], *extra: dict[str, Any]) -> None:
        results = [{"item": "pa-floor"}, {"item": "sf-exit"}]
        named = {e["item"] for e in extra}
        results = [r for r in results if r["item"] not in named] + list(extra)
        body = {"sheet": "monthly", "zone": zone, "results": results}
        r = self.client.post(f"{BASE}/inspections", json=body, headers=bearer(self.tokens.duty))
        assert r.status_code == 201, r.text
        made = r.json()
        assert len(made["deductions"]) == len(rects)
        for name, d in zip(rects, made["deductions"], strict=True):
            self.rect[name] = d["rectification_id"]

    def step(self, name: str, to: str) -> None:
        rid = self.rect[name]
        worker = bearer(self.tokens.admin)
        body: dict[str, Any] = {"to": to}
        if to == "rectified":
            up = self.client.post(
                f"{BASE}/rectifications/{rid}/evidence",
                files={"file": ("after.jpg", JPEG, "image/jpeg")},
                headers=worker,
            )
            assert up.status_code == 201, up.text
            body["evidence"] = [up.json()["ref"]]
        if to == "failed":
            body["note"] = "仍未整改到位"
        who = bearer(self.tokens.duty) if to in ("passed", "failed") else worker
        r = self.client.post(f"{BASE}/rectifications/{rid}/transitions", json=body, headers=who)
        assert r.status_code == 200, r.text


def litter(place: str, count: int = 1) -> dict[str, Any]:
    return {"item": "pa-floor", "deductions": [{"rule": "litter", "count": count, "place": place}]}


def seed(client: TestClient, tokens: Tokens, clock: ManualClock) -> None:
    """The timeline; names of rectifications in capitals. Deadlines (site file): general 3
    working days, important 1, emergency 4 h; no holiday falls in November 2026."""
    s = Seed(client, tokens, clock)
    s.when(at(10, 30, 10, 30))
    s.find("H", type="facility", severity="general", asset="pump-1")  # due Wed 4 Nov
    s.when(at(10, 31, 23, 30))  # October's inspection: 33/35; Z due Wed 4 Nov (from Saturday)
    s.inspect("zone-a", ["Z"], litter("lobby-1"))
    s.when(at(11, 1, 7, 30))  # 31 October 23:30 UTC, November locally: 35/35, no zone
    s.inspect(None, [])
    s.when(at(11, 2, 10))  # Monday: 30/35; A (cleaning, due Thu 5 Nov), B (lighting, Tue 3)
    s.inspect(
        "zone-a",
        ["A", "B"],
        litter("lobby-1", 2),
        {"item": "sf-light", "deductions": [{"rule": "dark", "place": "stair-2"}]},
    )
    s.when(at(11, 3, 9))
    s.find("C", type="facility", severity="important", asset="lift-1-1")  # due Wed 4 Nov
    s.when(at(11, 3, 10))
    s.step("B", "in_progress")
    s.step("B", "rectified")
    s.when(at(11, 3, 15))
    s.step("B", "failed")
    s.when(at(11, 4, 10))
    s.step("A", "in_progress")
    s.step("A", "rectified")
    s.when(at(11, 4, 12))
    s.step("H", "in_progress")
    s.step("H", "rectified")
    s.when(at(11, 4, 15))
    s.step("A", "passed")  # on time
    s.when(at(11, 4, 16))
    s.step("H", "passed")  # on time
    s.when(at(11, 5, 10))
    s.step("B", "rectified")
    s.when(at(11, 5, 15))
    s.step("B", "passed")  # late: due 3 November
    s.when(at(11, 10, 10))  # 33/35; D (fire-safety, important, due Wed 11 Nov)
    s.inspect(
        "zone-a",
        ["D"],
        {"item": "sf-exit", "deductions": [{"rule": "clutter", "place": "stair-2"}]},
    )
    s.when(at(11, 10, 11))
    s.step("D", "in_progress")  # and no further: overdue
    s.when(at(11, 16, 10))  # Monday: 27/30 (sv-notice 不适用); E (greening, due Thu 19 Nov)
    s.inspect(
        "zone-b",
        ["E"],
        {"item": "pa-green", "deductions": [{"rule": "weeds", "count": 3, "place": "garden-b"}]},
        {"item": "sv-notice", "not_applicable": True},
    )
    s.when(at(11, 18, 10))
    s.step("E", "in_progress")
    s.step("E", "rectified")
    s.when(at(11, 30, 20))
    s.find("G", type="cleaning", severity="general", place="garden-b")  # due Thu 3 Dec
    s.when(at(11, 30, 23, 30))  # November's: 25/35; F (emergency, due 1 Dec 03:30)
    s.inspect(
        "zone-b",
        ["F"],
        {"item": "sf-exit", "deductions": [{"rule": "blocked", "place": "garage-b"}]},
    )
    s.step("E", "passed")  # a re-check of November, late: due 19 November
    s.when(at(12, 1, 0, 30))  # 30 November 16:30 UTC, December locally: 35/35
    s.inspect("zone-a", [])
    s.when(at(12, 1, 1))
    s.step("F", "in_progress")
    s.step("F", "rectified")
    s.when(at(12, 1, 2))
    s.step("F", "passed")  # on time, December's
    s.when(at(12, 2, 10))  # now: C, D and Z are open past their deadlines


@pytest.fixture
def seeded(client: TestClient, tokens: Tokens, clock: ManualClock) -> TestClient:
    seed(client, tokens, clock)
    return client


def _get(client: TestClient, token: str, path: str, **params: Any) -> Any:
    r = client.get(f"{BASE}{path}", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def _severity(general: int = 0, important: int = 0, emergency: int = 0) -> dict[str, int]:
    return {"general": general, "important": important, "emergency": emergency}


# November's inspections: I5 35/35 (no zone), I1 30/35 and I2 33/35 (A区), I3 27/30 and
# I4 25/35 (B区); October's I0 and December's I6 are not November's
NOVEMBER_SITE = round((pct(35, 35) + pct(30, 35) + pct(33, 35) + pct(27, 30) + pct(25, 35)) / 5, 1)
ZONE_A = round((pct(30, 35) + pct(33, 35)) / 2, 1)
ZONE_B = round((pct(27, 30) + pct(25, 35)) / 2, 1)
# per inspection, the items each department answers for: 客服部 pa-floor 10, pa-green 5,
# sv-notice 5; 秩序部 sf-exit 10; 工程部 sf-light 5 (I5, I1, I2, I3, I4)
SERVICE = round((pct(20, 20) + pct(16, 20) + pct(20, 20) + pct(12, 15) + pct(20, 20)) / 5, 1)
SECURITY = round((pct(10, 10) + pct(10, 10) + pct(8, 10) + pct(10, 10) + pct(0, 10)) / 5, 1)
ENGINEERING = round((pct(5, 5) + pct(4, 5) + pct(5, 5) + pct(5, 5) + pct(5, 5)) / 5, 1)


def _figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["inspections"],
        row["score"],
        row["findings"],
        row["findings_by_severity"],
        row["rectifications_due"],
        row["on_time"],
        row["on_time_rate"],
        row["rechecks"],
        row["recheck_failures"],
        row["recheck_failure_rate"],
    )


def test_the_months_league_of_zones_and_departments(seeded: TestClient, tokens: Tokens) -> None:
    league = _get(seeded, tokens.technician, "/quality/league", month="2026-11")
    assert (league["month"], league["start"], league["end"]) == (
        "2026-11",
        "2026-10-31T16:00:00Z",
        "2026-11-30T16:00:00Z",
    )
    # findings of November: A, B (I1), C, D (I2), E (I3), F (I4, 23:30 on the 30th), G; not H, Z
    # due in November and decided: H, Z, A, B, C, D, E (F is due 1 Dec, G 3 Dec); on time: H, A
    # re-checks in November: B failed then passed, A, H, E passed
    assert _figures(league["site"]) == (
        5,
        NOVEMBER_SITE,
        7,
        _severity(general=3, important=3, emergency=1),
        7,
        2,
        round(2 / 7, 4),
        5,
        1,
        0.2,
    )
    assert league["site"]["overdue_now"] == 3  # C, D, Z

    zones = {z["zone"]: z for z in league["zones"]}
    assert [(z["rank"], z["zone"], z["name"]) for z in league["zones"]] == [
        (1, "zone-a", "A区"),
        (2, "zone-b", "B区"),
    ]
    # A区: findings A, B, C, D; due H, Z, A, B, C, D (on time H, A); re-checks A, B twice, H
    assert _figures(zones["zone-a"]) == (
        2,
        ZONE_A,
        4,
        _severity(general=1, important=3),
        6,
        2,
        round(2 / 6, 4),
        4,
        1,
        0.25,
    )
    assert zones["zone-a"]["overdue_now"] == 3
    # B区: findings E, F, G; due E (late); re-check E
    assert _figures(zones["zone-b"]) == (
        2,
        ZONE_B,
        3,
        _severity(general=2, emergency=1),
        1,
        0,
        0.0,
        1,
        0,
        0.0,
    )
    assert zones["zone-b"]["overdue_now"] == 0

    assert (ENGINEERING, SERVICE, SECURITY) == (96.0, 92.0, 76.0)
    assert [(d["rank"], d["department"], d["name"]) for d in league["departments"]] == [
        (1, "engineering", "工程部"),
        (2, "service", "客服部"),
        (3, "security", "秩序部"),
    ]
    depts = {d["department"]: d for d in league["departments"]}
    # 工程部 B, C, H; 客服部 A, E, G, Z; 秩序部 D, F
    assert _figures(depts["engineering"]) == (
        5,
        ENGINEERING,
        2,
        _severity(important=2),
        3,  # B, C, H
        1,
        round(1 / 3, 4),
        3,  # B twice, H
        1,
        round(1 / 3, 4),
    )
    assert _figures(depts["service"]) == (
        5,
        SERVICE,
        3,  # A, E, G
        _severity(general=3),
        3,  # Z, A, E
        1,
        round(1 / 3, 4),
        2,  # A, E
        0,
        0.0,
    )
    assert _figures(depts["security"]) == (
        5,
        SECURITY,
        2,  # D, F
        _severity(important=1, emergency=1),
        1,  # D
        0,
        0.0,
        0,
        0,
        None,
    )
    assert [depts[d]["overdue_now"] for d in ("engineering", "service", "security")] == [1, 1, 1]


def test_december_counts_what_was_decided_and_october_what_it_saw(
    seeded: TestClient, tokens: Tokens
) -> None:
    december = _get(seeded, tokens.duty, "/quality/league", month="2026-12")["site"]
    # I6 at 00:30 on 1 December; F due at 03:30 and passed at 02:00; G due 3 December: not yet
    assert _figures(december) == (1, 100.0, 0, _severity(), 1, 1, 1.0, 1, 0, 0.0)
    october = _get(seeded, tokens.duty, "/quality/league", month="2026-10")["site"]
    assert _figures(october) == (
        1,
        round(pct(33, 35), 1),
        2,  # H, Z
        _severity(general=2),
        0,
        0,
        None,
        0,
        0,
        None,
    )
    # no inspection: ranked after those with one, then by id
    zones = _get(seeded, tokens.duty, "/quality/league", month="2026-10")["zones"]
    assert [(z["zone"], z["score"]) for z in zones] == [
        ("zone-a", round(pct(33, 35), 1)),
        ("zone-b", None),
    ]


def test_the_trend_is_twelve_months_of_the_sites_figures(
    seeded: TestClient, tokens: Tokens
) -> None:
    trend = _get(seeded, tokens.duty, "/quality/trend", month="2026-11")
    months = trend["months"]
    assert [m["month"] for m in months] == [
        "2025-12",
        *(f"2026-{n:02d}" for n in range(1, 12)),
    ]
    league = _get(seeded, tokens.duty, "/quality/league", month="2026-11")["site"]
    assert _figures(months[-1]) == _figures(league)
    assert months[-2]["score"] == round(pct(33, 35), 1)
    assert months[-2]["findings"] == 2
    assert all(m["inspections"] == 0 and m["findings"] == 0 for m in months[:-2])
    assert months[0]["start"] == "2025-11-30T16:00:00Z"
    assert "overdue_now" not in months[-1]


def test_the_most_frequent_types_per_place(
    seeded: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    frequent = _get(seeded, tokens.duty, "/quality/frequent", months=3)
    assert (frequent["months"], frequent["start"]) == (3, "2026-09-02T02:00:00Z")
    places = [
        (p["name"], p["findings"], [(t["type"], t["findings"]) for t in p["types"]])
        for p in frequent["places"]
    ]
    by_count = [
        ("1栋大堂", 2, [("cleaning", 2)]),  # Z, A
        ("2栋消防楼梯", 2, [("fire-safety", 1), ("lighting", 1)]),  # D (10 Nov) after B (2 Nov)
        ("B区中心花园", 2, [("cleaning", 1), ("greening", 1)]),  # G (30 Nov), E (16 Nov)
    ]
    singles = [
        ("1号生活水泵", 1, [("facility", 1)]),  # H
        ("1栋1号电梯", 1, [("facility", 1)]),  # C
        ("B区地下车库", 1, [("fire-safety", 1)]),  # F
    ]
    assert places == sorted(by_count) + sorted(singles)
    lobby = frequent["places"][0]
    assert (lobby["zone_name"], lobby["place"]) == ("A区", "lobby-1")
    cleaning = lobby["types"][0]
    assert (cleaning["type_name"], cleaning["department_zh"]) == ("环境卫生", "客服部")
    assert cleaning["by_severity"] == _severity(general=2)
    assert cleaning["last_local"] == "11月2日 10:00"

    # one month back from 2 December 10:00 is 2 November 10:00, I1's very minute (included)
    recent = _get(seeded, tokens.duty, "/quality/frequent", months=1)
    assert {p["name"]: p["findings"] for p in recent["places"]} == {
        "1栋大堂": 1,
        "2栋消防楼梯": 2,
        "B区中心花园": 2,
        "1栋1号电梯": 1,
        "B区地下车库": 1,
    }
    with ctx.db.session() as s:
        top = frequent_findings(s, ctx.sites["hexie"].spec, ctx.clock.now(), months=3, top=1)
    assert [len(p.types) for p in top.places] == [1] * 6


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/quality/league", {"month": "2026-13"}, "month"),
        ("/quality/league", {}, "month"),
        ("/quality/trend", {"month": "11-2026"}, "month"),
        ("/quality/frequent", {"months": 0}, "months"),
        ("/quality/frequent", {"months": 25}, "months"),
    ],
)
def test_a_bad_month_is_a_422_naming_the_field(
    client: TestClient, tokens: Tokens, path: str, params: dict[str, Any], field: str
) -> None:
    r = client.get(f"{BASE}{path}", params=params, headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in r.json()["errors"]] == [["query", field]]


def test_an_empty_month_has_no_score_and_no_rates(client: TestClient, tokens: Tokens) -> None:
    league = _get(client, tokens.duty, "/quality/league", month="2026-11")
    assert _figures(league["site"]) == (0, None, 0, _severity(), 0, 0, None, 0, 0, None)
    assert [z["zone"] for z in league["zones"]] == ["zone-a", "zone-b"]
    r = client.get(f"{BASE}/quality/league?month=2026-11", headers=bearer(tokens.integration))
    assert r.status_code == 403
