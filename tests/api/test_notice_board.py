"""公告栏 `/notices?site=`: a public page (no token) of the current and upcoming planned outages,
in zh-CN with local times, that names nobody; an unknown site is a 404 page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.plan_sites import plan_site

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock() -> ManualClock:
    # Friday 10 July 2026, 10:00: the lift's quarterly window (09:00 to 13:00) is under way
    return ManualClock(datetime(2026, 7, 10, 10, tzinfo=TZ).astimezone(UTC))


@pytest.fixture
def example_site(tmp_path: Path) -> Site:
    assets = [
        {
            "id": "lift-1",
            "name": "1栋1号电梯",
            "kind": "elevator",
            "zone": "zone-a",
            "building": "1栋",
        },
        {
            "id": "pump-1",
            "name": "1号生活水泵",
            "kind": "water_pump",
            "zone": "zone-a",
            "building": "1栋",
        },
    ]
    plans = [
        {"id": "lift-quarterly", "template": "elevator-quarterly"},
        {"id": "tank", "template": "water-tank-cleaning"},
    ]
    return plan_site(tmp_path, assets, plans)


def test_the_board_shows_current_and_upcoming_notices_without_a_token(
    client: TestClient, example_site: Site
) -> None:
    r = client.get("/notices", params={"site": example_site.id})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    page = r.text
    assert "<h2>和谐花园 公告栏</h2>" in page
    lift = page.index("停梯保养通知")
    water = page.index("停水通知")
    assert lift < water  # soonest first
    assert '停梯保养通知 <span class="state">进行中</span>' in page
    assert '停水通知 <span class="state">即将进行</span>' in page
    assert "时间：7月10日（星期五）09:00 至 13:00" in page
    assert "暂停A区1栋的生活用水供应" in page
    assert "更新于 7月10日 10:00" in page
    # the board names no staff and shows no phone number
    for person in example_site.spec.people:
        assert person.name not in page
        assert not person.phone or person.phone not in page


def test_ended_work_leaves_the_board(
    client: TestClient, clock: ManualClock, example_site: Site
) -> None:
    clock.set(datetime(2026, 7, 10, 13, 30, tzinfo=TZ).astimezone(UTC))
    page = client.get("/notices", params={"site": example_site.id}).text
    assert "停梯保养通知" not in page and "停水通知" in page


@pytest.mark.parametrize("site", ["no-such-site", "", "<b>x</b>"])
def test_an_unknown_site_is_a_404_page(client: TestClient, site: str) -> None:
    r = client.get("/notices", params={"site": site})
    assert r.status_code == 404
    assert "未找到该小区的公告栏" in r.text
    assert "和谐花园" not in r.text and "<b>x</b>" not in r.text
