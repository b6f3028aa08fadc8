"""巡查发现 and 整改 over the API on SQLite and PostgreSQL: finding → rectification → evidence →
re-check with If-Match, the deadline across National Day, escalation of an overdue one on the
injected clock, and 4xx for bad input with nothing kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.deps import AppContext
from maintenance.quality.escalation import escalate_overdue_rectifications
from maintenance.quality.models import Finding, Rectification
from maintenance.work_orders.models import WorkOrder
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.integration import db, example_site, migrated_template

__all__ = ["db", "example_site", "migrated_template"]  # both backends for every test here

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = "/api/v1/sites/hexie"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def _find(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"{BASE}/findings", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    assert r.headers["ETag"] == made["etag"]
    return made


def _step(
    client: TestClient, token: str, rect: dict[str, Any], to: str, **body: Any
) -> dict[str, Any]:
    r = client.post(
        f"{BASE}/rectifications/{rect['id']}/transitions",
        json={"to": to, **body},
        headers={**bearer(token), "If-Match": rect["etag"]},
    )
    assert r.status_code == 200, r.text
    moved: dict[str, Any] = r.json()
    return moved


def _evidence(client: TestClient, token: str, rect: dict[str, Any]) -> str:
    r = client.post(
        f"{BASE}/rectifications/{rect['id']}/evidence",
        files={"file": ("after.jpg", JPEG, "image/jpeg")},
        headers=bearer(token),
    )
    assert r.status_code == 201, r.text
    ref: str = r.json()["ref"]
    return ref


def test_finding_to_rectification_to_evidence_to_recheck(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    rect = _find(
        client,
        tokens.duty,
        type="facility",
        severity="important",
        asset="lift-1-1",
        note="按钮失灵",
    )
    assert (rect["status"], rect["status_zh"], rect["assignee_name"]) == (
        "issued",
        "已下发",
        "王工",
    )
    assert (rect["department_zh"], rect["place"]["name"], rect["place"]["zone_name"]) == (
        "工程部",
        "1栋1号电梯",
        "A区",
    )
    # Monday 23 November 10:00 + one working day: Tuesday 23:59:59 local
    assert rect["deadline_at"] == "2026-11-24T15:59:59Z"
    assert rect["deadline_local"] == "11月24日 23:59"
    photo = client.post(
        f"{BASE}/findings/{rect['finding_id']}/photos",
        files={"file": ("p.jpg", JPEG, "image/jpeg")},
        headers=bearer(tokens.duty),
    )
    assert photo.status_code == 201, photo.text
    assert client.get(photo.json()["url"], headers=bearer(tokens.technician)).content == JPEG

    clock.advance(timedelta(minutes=20))
    rect = client.get(f"{BASE}/rectifications/{rect['id']}", headers=bearer(tokens.technician))
    rect = rect.json()
    assert [p["ref"] for p in rect["photos"]] == [photo.json()["ref"]]
    rect = _step(client, tokens.technician, rect, "in_progress")
    clock.advance(timedelta(hours=1))
    first = _evidence(client, tokens.technician, rect)
    rect = _step(client, tokens.technician, rect, "rectified", note="已更换按钮", evidence=[first])
    clock.advance(timedelta(hours=1))
    rect = _step(client, tokens.duty, rect, "failed", note="3楼按钮仍不亮")
    assert (rect["status"], rect["recheck_failures"]) == ("in_progress", 1)
    second = _evidence(client, tokens.technician, rect)
    rect = _step(client, tokens.technician, rect, "rectified", evidence=[second])
    clock.advance(timedelta(minutes=5))
    rect = _step(client, tokens.duty, rect, "passed", note="复查合格")

    assert rect["status_zh"] == "复查通过" and rect["overdue"] is False
    trail = [(s["step"], s["actor_name"], s["at_local"]) for s in rect["steps"]]
    assert trail == [
        ("下发", "值班员", "11月23日 10:00"),
        ("开始整改", "王工", "11月23日 10:20"),
        ("整改完成", "王工", "11月23日 11:20"),
        ("复查不通过", "值班员", "11月23日 12:20"),
        ("整改完成", "王工", "11月23日 12:20"),
        ("复查通过", "值班员", "11月23日 12:25"),
    ]
    evidence = client.get(rect["steps"][4]["photos"][0]["url"], headers=bearer(tokens.duty))
    assert evidence.status_code == 200 and evidence.content == JPEG


def test_a_stale_etag_is_refused_and_a_step_out_of_order_is_a_conflict(
    client: TestClient, tokens: Tokens
) -> None:
    rect = _find(client, tokens.duty, type="cleaning", severity="general", place="lobby-1")
    moved = _step(client, tokens.duty, rect, "in_progress")
    stale = client.post(
        f"{BASE}/rectifications/{rect['id']}/transitions",
        json={"to": "in_progress"},
        headers={**bearer(tokens.duty), "If-Match": rect["etag"]},
    )
    assert stale.status_code == 412 and stale.headers["ETag"] == moved["etag"]
    illegal = client.post(
        f"{BASE}/rectifications/{rect['id']}/transitions",
        json={"to": "passed"},
        headers={**bearer(tokens.duty), "If-Match": moved["etag"]},
    )
    assert illegal.status_code == 409
    assert illegal.json()["code"] == "illegal_transition"
    assert "整改中" in illegal.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "cleaning", "severity": "general", "place": "lobby-9"}, "place"),
        ({"type": "cleaning", "severity": "general", "asset": "pump-9"}, "asset"),
        ({"type": "cleaning", "severity": "general", "building": "9栋"}, "building"),
        ({"type": "noise", "severity": "general", "place": "lobby-1"}, "type"),
        ({"type": "cleaning", "severity": "严重", "place": "lobby-1"}, "severity"),
        ({"type": "cleaning", "severity": "general", "place": "lobby-1", "x": 1}, "x"),
    ],
)
def test_bad_findings_are_refused_naming_the_field_and_nothing_is_kept(
    client: TestClient, tokens: Tokens, ctx: AppContext, body: dict[str, Any], field: str
) -> None:
    r = client.post(f"{BASE}/findings", json=body, headers=bearer(tokens.duty))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["loc"][-1] for e in r.json()["errors"]] == [field]
    with ctx.db.session() as s:
        assert s.query(Finding).count() == s.query(Rectification).count() == 0


def test_two_places_at_once_are_refused(client: TestClient, tokens: Tokens) -> None:
    body = {"type": "cleaning", "severity": "general", "place": "lobby-1", "building": "1栋"}
    r = client.post(f"{BASE}/findings", json=body, headers=bearer(tokens.duty))
    assert r.status_code == 422 and "三选一" in r.json()["detail"]


def test_evidence_must_be_an_upload_of_this_rectification(
    client: TestClient, tokens: Tokens
) -> None:
    one = _find(client, tokens.duty, type="cleaning", severity="general", place="lobby-1")
    other = _find(client, tokens.duty, type="cleaning", severity="general", place="stair-2")
    one = _step(client, tokens.duty, one, "in_progress")
    theirs = _evidence(client, tokens.duty, other)
    for refs in ([theirs], [f"quality/rectifications/{one['id']}/{'0' * 32}.jpg"], []):
        r = client.post(
            f"{BASE}/rectifications/{one['id']}/transitions",
            json={"to": "rectified", "evidence": refs},
            headers=bearer(tokens.duty),
        )
        assert r.status_code == 422, (refs, r.text)
    stored = client.get(f"{BASE}/rectifications/{one['id']}", headers=bearer(tokens.duty)).json()
    assert stored["status"] == "in_progress"


def test_a_technician_works_only_on_their_own_and_does_not_recheck(
    client: TestClient, tokens: Tokens
) -> None:
    mine = _find(client, tokens.duty, type="facility", severity="general", asset="pump-1")
    r = client.post(
        f"{BASE}/rectifications/{mine['id']}/transitions",
        json={"to": "in_progress"},
        headers=bearer(tokens.other_technician),
    )
    assert r.status_code == 403
    mine = _step(client, tokens.technician, mine, "in_progress")
    mine = _step(
        client,
        tokens.technician,
        mine,
        "rectified",
        evidence=[_evidence(client, tokens.technician, mine)],
    )
    r = client.post(
        f"{BASE}/rectifications/{mine['id']}/transitions",
        json={"to": "passed"},
        headers=bearer(tokens.other_technician),
    )
    assert r.status_code == 403


def test_unknown_ids_and_bad_filters(client: TestClient, tokens: Tokens) -> None:
    duty = bearer(tokens.duty)
    assert client.get(f"{BASE}/rectifications/999", headers=duty).status_code == 404
    assert client.get(f"{BASE}/findings/999", headers=duty).status_code == 404
    assert client.get("/api/v1/sites/nowhere/rectifications", headers=duty).status_code == 403
    for query in ("status=failed", "status=done", "severity=严重", "zone=zone-z", "overdue=maybe"):
        r = client.get(f"{BASE}/rectifications?{query}", headers=duty)
        assert r.status_code == 422, query
    body = {"type": "cleaning", "severity": "general", "place": "lobby-1"}
    r = client.post(f"{BASE}/findings", json=body, headers=bearer(tokens.integration))
    assert r.status_code == 403  # staff record findings, not the ticket system


def test_the_deadline_skips_national_day_and_counts_the_make_up_saturday(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    # Wednesday 30 September 2026, 16:00: 1-7 October off; Saturday 10 October is a working day
    ctx.clock = ManualClock(datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI).astimezone(UTC))
    got = {
        sev: _find(client, tokens.duty, type="cleaning", severity=sev, place="garden-b")
        for sev in ("emergency", "important", "general")
    }
    assert {sev: r["deadline_local"] for sev, r in got.items()} == {
        "emergency": "9月30日 20:00",
        "important": "10月8日 23:59",
        "general": "10月10日 23:59",
    }
    assert got["general"]["deadline_at"] == "2026-10-10T15:59:59Z"
    assert got["general"]["assignee_name"] == "陈客服"


def test_an_overdue_rectification_escalates_and_is_counted(
    client: TestClient, tokens: Tokens, ctx: AppContext, example_site: Site
) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    late = _find(client, tokens.duty, type="fire-safety", severity="emergency", building="3栋")
    _find(client, tokens.duty, type="cleaning", severity="general", place="garden-b")
    clock.advance(timedelta(hours=4, seconds=1))
    with ctx.db.session() as s:
        fired = escalate_overdue_rectifications(s, example_site.spec, clock.now())
    assert [(e.step_id, e.recipient) for e in fired] == [("warn", "zhao-ba"), ("breach", "zhou-zg")]
    duty = bearer(tokens.duty)
    detail = client.get(f"{BASE}/rectifications/{late['id']}", headers=duty).json()
    assert detail["overdue"] is True
    assert [(e["step_id"], e["recipient_name"]) for e in detail["escalations"]] == [
        ("warn", "赵保安"),
        ("breach", "周主管"),
    ]
    overdue = client.get(f"{BASE}/rectifications?overdue=true", headers=duty).json()
    assert [r["id"] for r in overdue["items"]] == [late["id"]]
    not_overdue = client.get(f"{BASE}/rectifications?overdue=false", headers=duty).json()
    assert [r["id"] for r in not_overdue["items"]] == [late["id"] + 1]
    counts = client.get(f"{BASE}/rectifications/accountability", headers=duty).json()
    assert {d["key"]: (d["open"], d["overdue"]) for d in counts["departments"]} == {
        "engineering": (0, 0),
        "security": (1, 1),
        "service": (1, 0),
    }
    assert {p["name"]: (p["open"], p["overdue"]) for p in counts["people"]} == {
        "赵保安": (1, 1),
        "陈客服": (1, 0),
    }


def test_repair_work_opens_a_work_order_once_and_links_it(
    client: TestClient, tokens: Tokens, ctx: AppContext
) -> None:
    rect = _find(client, tokens.duty, type="lighting", severity="emergency", place="garage-b")
    r = client.post(
        f"{BASE}/rectifications/{rect['id']}/work-order",
        json={},
        headers={**bearer(tokens.duty), "If-Match": rect["etag"]},
    )
    assert r.status_code == 200, r.text
    linked = r.json()
    again = client.post(
        f"{BASE}/rectifications/{rect['id']}/work-order", json={}, headers=bearer(tokens.duty)
    ).json()
    assert linked["work_order_code"] and again["work_order_id"] == linked["work_order_id"]
    with ctx.db.session() as s:
        wo = s.get(WorkOrder, linked["work_order_id"])
        assert wo is not None
        assert (wo.priority, wo.zone_code, wo.location) == ("emergency", "zone-b", "B区地下车库")
        assert s.query(WorkOrder).count() == 1
    assert linked["steps"][-1]["step"] == "关联工单"
    missing = client.post(
        f"{BASE}/rectifications/{rect['id']}/work-order",
        json={"work_order_id": 9999},
        headers=bearer(tokens.duty),
    )
    assert missing.status_code == 422
