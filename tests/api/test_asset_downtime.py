"""资产层级与停机 over the API on SQLite and PostgreSQL: a pump room's tree with its branch's open
alarms and orders; stops from a fault alarm and an order marked 停机 merged into one, a
threshold alarm not counted, availability and MTBF worked out here from the times; the
monthly report's section agrees; refusals name the field and keep nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.deps import AppContext
from maintenance.alarms.service import apply_alarm_event
from maintenance.downtime.models import DowntimeMark
from propwatch.clock import ManualClock
from propwatch.events import AlarmAction, AlarmEvent, Severity
from propwatch.site import Site, load_site
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order, db, migrated_template
from tests.conftest import EXAMPLE_SITE

__all__ = ["db", "migrated_template"]  # both backends for every test here

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOM = """
  - {id: room-1, name: 1号泵房, kind: pump_room, zone: zone-a, building: 水泵房}
  - {id: pump-a, name: 1号泵, kind: booster_pump, zone: zone-a, parent: room-1}
  - {id: pump-b, name: 2号泵, kind: booster_pump, zone: zone-a, parent: room-1}
  - {id: cabinet, name: 控制柜, kind: control_cabinet, zone: zone-a, parent: room-1}
  - {id: vfd, name: 变频器, kind: vfd, zone: zone-a, parent: cabinet}
"""


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    """和谐花园 with a pump room holding two pumps and a control cabinet (which holds a VFD)."""
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir()
    text = EXAMPLE_SITE.read_text(encoding="utf-8").replace("assets:\n", "assets:" + ROOM, 1)
    path.write_text(text, "utf-8")
    return load_site(path)


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _alarm(ctx: AppContext, site: Site, action: AlarmAction, at: datetime, **kw: str) -> None:
    event = AlarmEvent(
        event_id=f"ev-{kw['episode']}-{action.value}",
        site_id=site.id,
        occurred_at=at,
        action=action,
        episode_id=kw["episode"],
        asset_id=kw.get("asset", "pump-1"),
        alarm_type=kw["alarm_type"],
        severity=Severity.MAJOR,
        rule_id=kw["rule"],
        message=kw.get("message", ""),
    )
    with ctx.db.session() as s:
        apply_alarm_event(s, site.spec, event, at)


def _step(client: TestClient, token: str, order: int, *steps: str) -> None:
    for to in steps:
        r = client.post(
            f"/api/v1/work-orders/{order}/transitions", json={"to": to}, headers=bearer(token)
        )
        assert r.status_code == 200, r.text


def test_the_tree_of_a_pump_room_and_its_branch_counts(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    now = ctx.clock.now()
    _alarm(
        ctx,
        example_site,
        AlarmAction.RAISE,
        now,
        episode="v1",
        asset="vfd",
        alarm_type="fault",
        rule="vfd-fault",
    )
    create_order(client, tokens.duty, example_site, asset="pump-a", title="1号泵异响")
    cabinet = _ok(client.get("/api/v1/assets/hexie/cabinet/hierarchy", headers=bearer(tokens.duty)))
    assert cabinet["parent"] == "room-1"
    assert [a["id"] for a in cabinet["ancestors"]] == ["room-1"]
    # the alarm opened an order of its own on the VFD
    children = [(a["id"], a["open_alarms"], a["open_orders"]) for a in cabinet["children"]]
    assert children == [("vfd", 1, 1)]
    assert (cabinet["descendants"], cabinet["branch_open_alarms"]) == (1, 1)
    assert (cabinet["asset"]["open_alarms"], cabinet["branch_open_orders"]) == (0, 1)
    room = _ok(client.get("/api/v1/assets/hexie/room-1/hierarchy", headers=bearer(tokens.duty)))
    assert [a["id"] for a in room["children"]] == ["pump-a", "pump-b", "cabinet"]
    assert [a["children"] for a in room["children"]] == [0, 0, 1]
    assert (room["asset"]["open_orders"], room["asset"]["open_alarms"]) == (0, 0)
    assert (room["descendants"], room["branch_open_alarms"], room["branch_open_orders"]) == (
        4,
        1,
        2,
    )
    assets = _ok(client.get("/api/v1/assets?site_id=hexie", headers=bearer(tokens.duty)))
    assert {a["id"]: a["parent"] for a in assets}["vfd"] == "cabinet"
    assert (
        client.get("/api/v1/assets/hexie/nope/hierarchy", headers=bearer(tokens.duty)).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/assets/hexie/room-1/hierarchy", headers=bearer(tokens.other_site)
        ).status_code
        == 403
    )


def test_stops_merge_and_give_availability_and_mtbf(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext, clock: ManualClock
) -> None:
    t0 = clock.now()  # 2026-11-23 10:00 in Shanghai
    # 10:00 the pump's protection trips (a fault: down) and an order opens on it
    _alarm(
        ctx,
        example_site,
        AlarmAction.RAISE,
        t0,
        episode="p1",
        alarm_type="pump_overload",
        rule="pump-protection",
        message="水泵过载保护动作",
    )
    order = create_order(
        client, tokens.duty, example_site, asset="pump-1", assignee="wang-gong", title="1号泵停机"
    )["id"]
    clock.advance(timedelta(minutes=30))
    _step(client, tokens.technician, order, "accepted", "on_site")  # 10:30 到场
    r = client.put(
        f"/api/v1/work-orders/{order}/downtime",
        json={"since": "arrived", "reason": "更换热继电器"},
        headers=bearer(tokens.technician),
    )
    mark = _ok(r)
    assert (mark["since_zh"], mark["start"], mark["end"]) == (
        "到场起",
        "2026-11-23T02:30:00Z",
        None,
    )
    _alarm(
        ctx,
        example_site,
        AlarmAction.CLEAR,
        t0 + timedelta(hours=1),
        episode="p1",
        alarm_type="pump_overload",
        rule="pump-protection",
    )  # 11:00 the trip resets
    clock.set(t0 + timedelta(hours=2))
    _step(client, tokens.technician, order, "resolved")  # 12:00 完成: the stop ends
    # 14:00–15:00 low outlet pressure: a warning about a running pump, not a stop
    _alarm(
        ctx,
        example_site,
        AlarmAction.RAISE,
        t0 + timedelta(hours=4),
        episode="p2",
        alarm_type="low_outlet_pressure",
        rule="pump-outlet-pressure-low",
    )
    _alarm(
        ctx,
        example_site,
        AlarmAction.CLEAR,
        t0 + timedelta(hours=5),
        episode="p2",
        alarm_type="low_outlet_pressure",
        rule="pump-outlet-pressure-low",
    )
    # the 25th 08:00–08:45 the door controller's link drops (communication loss: down)
    door_start = datetime(2026, 11, 25, 8, 0, tzinfo=SHANGHAI)
    _alarm(
        ctx,
        example_site,
        AlarmAction.RAISE,
        door_start,
        episode="d1",
        asset="door-north",
        alarm_type="communication_loss",
        rule="controller-comm-loss",
    )
    _alarm(
        ctx,
        example_site,
        AlarmAction.CLEAR,
        door_start + timedelta(minutes=45),
        episode="d1",
        asset="door-north",
        alarm_type="communication_loss",
        rule="controller-comm-loss",
    )
    now = datetime(2026, 11, 26, 0, 0, tzinfo=SHANGHAI)
    clock.set(now)

    month_start = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    period_h = (now - month_start).total_seconds() / 3600  # 25 days so far: 600 h
    assert period_h == 600
    pump = _ok(
        client.get(
            "/api/v1/assets/hexie/pump-1/downtime?month=2026-11", headers=bearer(tokens.duty)
        )
    )
    # alarm 10:00–11:00 and order 10:30–12:00 are one stop 10:00–12:00
    assert [(i["start"], i["end"], i["hours"]) for i in pump["intervals"]] == [
        ("2026-11-23T02:00:00Z", "2026-11-23T04:00:00Z", 2.0)
    ]
    assert sorted(c["kind"] for c in pump["intervals"][0]["causes"]) == ["alarm", "work_order"]
    assert any("更换热继电器" in c["reason"] for c in pump["intervals"][0]["causes"])
    assert (pump["period_hours"], pump["down_hours"], pump["failures"]) == (600.0, 2.0, 1)
    assert pump["availability"] == round(1 - 2 / 600, 4)
    assert (pump["mtbf_hours"], pump["mttr_hours"]) == (598.0, 2.0)

    site = _ok(
        client.get("/api/v1/sites/hexie/availability?month=2026-11", headers=bearer(tokens.duty))
    )
    assert [(a["asset"], a["down_hours"]) for a in site["assets"]] == [
        ("pump-1", 2.0),
        ("door-north", 0.75),
    ]
    in_service = len(example_site.spec.assets)
    assert site["assets_in_service"] == in_service
    assert site["availability"] == round(1 - 2.75 / (600 * in_service), 4)

    report = _ok(
        client.get("/api/v1/reports/hexie/monthly?year=2026&month=11", headers=bearer(tokens.duty))
    )
    assert report["availability"]["assets"] == site["assets"]

    # another month: nothing; an asset with no stop: up throughout
    october = _ok(
        client.get(
            "/api/v1/assets/hexie/pump-1/downtime?month=2026-10", headers=bearer(tokens.duty)
        )
    )
    assert (october["down_hours"], october["availability"], october["period_hours"]) == (
        0.0,
        1.0,
        31 * 24.0,
    )
    lift = _ok(client.get("/api/v1/assets/hexie/lift-1-1/downtime", headers=bearer(tokens.duty)))
    assert (lift["failures"], lift["mtbf_hours"], lift["availability"]) == (0, None, 1.0)


def test_refusals_name_the_field_and_keep_nothing(
    client: TestClient, tokens: Tokens, example_site: Site, ctx: AppContext
) -> None:
    with_asset = create_order(
        client, tokens.duty, example_site, asset="pump-1", assignee="wang-gong"
    )["id"]
    without = create_order(client, tokens.duty, example_site)["id"]
    url = f"/api/v1/work-orders/{with_asset}/downtime"
    for body, field in (
        ({"since": "whenever", "reason": "x"}, "since"),
        ({"since": "reported", "reason": ""}, "reason"),
        ({"since": "reported", "reason": "x" * 301}, "reason"),
        ({"since": "reported"}, "reason"),
        ({"since": "reported", "reason": "x", "extra": 1}, "extra"),
    ):
        r = client.put(url, json=body, headers=bearer(tokens.duty))
        assert r.status_code == 422, (body, r.text)
        assert [e["loc"] for e in r.json()["errors"]] == [["body", field]], r.text
    r = client.put(
        f"/api/v1/work-orders/{without}/downtime",
        json={"since": "reported", "reason": "x"},
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "asset"], r.text
    forbidden = client.put(
        url, json={"since": "reported", "reason": "x"}, headers=bearer(tokens.other_technician)
    )
    assert forbidden.status_code == 403
    assert (
        client.put(
            url, json={"since": "reported", "reason": "x"}, headers=bearer(tokens.other_site)
        ).status_code
        == 403
    )
    assert _ok(client.get(url, headers=bearer(tokens.duty))) is None
    assert client.delete(url, headers=bearer(tokens.duty)).status_code == 204
    bad_month = client.get(
        "/api/v1/assets/hexie/pump-1/downtime?month=2026-13", headers=bearer(tokens.duty)
    )
    assert bad_month.status_code == 422 and bad_month.json()["errors"][0]["loc"] == [
        "query",
        "month",
    ]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(DowntimeMark)) == 0
    # marked, replaced, then taken back
    _ok(client.put(url, json={"since": "reported", "reason": "停泵"}, headers=bearer(tokens.duty)))
    again = _ok(
        client.put(url, json={"since": "arrived", "reason": "检修"}, headers=bearer(tokens.duty))
    )
    assert (again["since"], again["reason"], again["start"]) == ("arrived", "检修", None)
    assert _ok(client.get(url, headers=bearer(tokens.duty)))["reason"] == "检修"
    assert client.delete(url, headers=bearer(tokens.duty)).status_code == 204
    assert _ok(client.get(url, headers=bearer(tokens.duty))) is None
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(DowntimeMark)) == 0
