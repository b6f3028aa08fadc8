"""扫码报修 over HTTP on SQLite and PostgreSQL: a resident's report from a QR code, its tracking
link, duplicates joining the open order, the abuse limits (429, 413), 催单 once per 4 h, the
resident's own 回访评价, and phones that only customer service reads whole."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.auth import ApiRole, issue_token
from api.deps import AppContext
from api.resident_gate import ResidentGate
from maintenance.notifications import Notification
from maintenance.residents.models import ResidentReport
from maintenance.residents.service import erase_expired_phones
from maintenance.work_orders.models import WorkOrder, WorkOrderRevisit
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.live import serve

db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)

PHONE = "13912345678"
OTHER_PHONE = "13687654321"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000


def report(
    client: TestClient,
    site: Site,
    *,
    phone: str = PHONE,
    kind: str = "water",
    photos: list[bytes] = (),  # type: ignore[assignment]
    **spot: str,
) -> httpx.Response:
    data = {"kind": kind, "description": "水泵房漏水，地面有积水", "phone": phone, "room": "3-201"}
    data.update(spot or {"asset": "pump-1"})
    files = [("photos", (f"p{i}.jpg", body, "image/jpeg")) for i, body in enumerate(photos)]
    r: httpx.Response = client.post(
        f"/api/v1/public/sites/{site.id}/reports", data=data, files=files or None
    )
    return r


def token_of(answer: dict[str, Any]) -> str:
    url: str = answer["tracking_url"]
    assert url.startswith("/track/")
    return url.removeprefix("/track/")


def track(client: TestClient, token: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/public/track/{token}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def count(ctx: AppContext, model: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def service_token(ctx: AppContext, example_site: Site) -> str:
    """客服 陈客服: the one role that reads a reporter's phone whole."""
    with ctx.db.session() as s:
        return issue_token(
            s,
            name="kefu",
            role=ApiRole.SERVICE,
            sites=[example_site.id],
            person="chen-kf",
            now=ctx.clock.now(),
        )


def test_a_report_makes_a_resident_order_for_the_asset_with_its_categorys_limits(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    r = report(client, example_site, photos=[JPEG])
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["phone"] == "139****5678" and made["joined"] is False and made["photos"] == 1
    with ctx.db.session() as s:
        wo = s.scalars(select(WorkOrder)).one()
        assert (wo.source, wo.category, wo.priority) == ("resident", "water_supply", "general")
        assert wo.zone_code == "zone-a" and wo.location == "水泵房 1号生活水泵"
        # 分级响应 of the example's 时限表: a general water repair is resolved within 24 h
        assert wo.resolve_due is not None
        assert wo.resolve_due - wo.reported_at == timedelta(hours=24)
        row = s.scalars(select(ResidentReport)).one()
        assert PHONE not in (row.phone_cipher or "") and row.token_hash != token_of(made)
    detail = client.get(f"/api/v1/work-orders/{wo.id}", headers=bearer(tokens.duty)).json()
    assert detail["source"] == "resident"
    files = client.get(f"/api/v1/work-orders/{wo.id}/attachments", headers=bearer(tokens.duty))
    assert len(files.json()["items"]) == 1
    t = track(client, token_of(made))
    assert [s["label"] for s in t["steps"]] == ["已受理", "已派单给 王师傅"]
    assert t["steps"][0]["at_local"] == "11月23日 10:00"
    assert (t["status"], t["status_zh"]) == ("dispatched", "已派单给 王师傅")
    assert t["phone"] == "139****5678" and t["reporters"] == 1 and t["can_remind"] is True


@pytest.mark.parametrize(
    ("spot", "text"),
    [
        ({"asset": "no-such"}, "找不到该设备"),
        ({"place": "no-such"}, "找不到该公共区域"),
        ({"building": "99栋"}, "找不到该楼栋"),
    ],
)
def test_an_unknown_spot_is_404_in_chinese_and_keeps_nothing(
    client: TestClient, ctx: AppContext, example_site: Site, spot: dict[str, str], text: str
) -> None:
    r = report(client, example_site, **spot)
    assert r.status_code == 404 and text in r.json()["detail"]
    page = client.get(f"/api/v1/public/sites/{example_site.id}/spot", params=spot)
    assert page.status_code == 404 and text in page.json()["detail"]
    assert count(ctx, WorkOrder) == 0 and count(ctx, ResidentReport) == 0


def test_an_unknown_site_is_404(client: TestClient, ctx: AppContext) -> None:
    r = client.post(
        "/api/v1/public/sites/nowhere/reports",
        data={"kind": "water", "description": "漏水", "phone": PHONE, "asset": "pump-1"},
    )
    assert r.status_code == 404 and "找不到该小区" in r.json()["detail"]
    assert count(ctx, WorkOrder) == 0


def test_a_bad_phone_and_kind_are_422_naming_each_and_keep_nothing(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    r = report(client, example_site, phone="12345", kind="bogus")
    assert r.status_code == 422
    named = {e["loc"][-1] for e in r.json()["errors"]}
    assert named == {"phone", "kind"}
    assert count(ctx, WorkOrder) == 0 and count(ctx, ResidentReport) == 0


def test_a_spot_answers_its_place_and_the_choices(client: TestClient, example_site: Site) -> None:
    r = client.get(f"/api/v1/public/sites/{example_site.id}/spot", params={"place": "lobby-1"})
    assert r.status_code == 200
    body = r.json()
    assert body["place"] == "1栋大堂" and body["site_name"] == example_site.spec.site.name
    assert "电梯困人" in [k["label"] for k in body["kinds"]]


def test_a_flood_from_one_address_is_429_with_retry_after(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    ctx.resident = ResidentGate(per_phone_per_hour=100, per_address_per_hour=3)
    phones = [f"1390000000{i}" for i in range(5)]
    answers = [report(client, example_site, phone=p, building="3栋").status_code for p in phones]
    assert answers == [201, 201, 201, 429, 429]
    refused = report(client, example_site, phone="13900000009", building="4栋")
    # three an hour: the next is allowed 20 minutes after the bucket emptied
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1200"
    assert "频繁" in refused.json()["detail"]
    assert count(ctx, ResidentReport) == 3
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(1200)
    assert report(client, example_site, phone="13900000009", building="4栋").status_code == 201


def test_one_phone_is_limited_whatever_its_address(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    ctx.resident = ResidentGate(per_phone_per_hour=2, per_address_per_hour=100)
    codes = [report(client, example_site, building=b).status_code for b in ("1栋", "2栋", "3栋")]
    assert codes == [201, 201, 429]
    # written another way, it is the same phone
    assert (
        report(client, example_site, phone="+86 139-1234-5678", building="4栋").status_code == 429
    )
    assert report(client, example_site, phone=OTHER_PHONE, building="4栋").status_code == 201


def test_an_oversized_photo_is_413_and_keeps_nothing(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (8 * 1024 * 1024)
    r = report(client, example_site, photos=[JPEG, big])
    assert r.status_code == 413
    assert count(ctx, WorkOrder) == 0 and count(ctx, ResidentReport) == 0
    stored = [p for p in (ctx.var_dir / "attachments").rglob("*") if p.is_file()]
    assert stored == []


def test_a_pdf_is_not_a_photo(client: TestClient, ctx: AppContext, example_site: Site) -> None:
    r = report(client, example_site, photos=[b"%PDF-1.7 not a photo"])
    assert r.status_code == 422 and "照片" in r.json()["detail"]
    assert count(ctx, WorkOrder) == 0


def test_four_photos_are_422_naming_photos(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    r = report(client, example_site, photos=[JPEG] * 4)
    assert r.status_code == 422
    assert [e["loc"][-1] for e in r.json()["errors"]] == ["photos"]
    assert count(ctx, WorkOrder) == 0


def test_the_same_spot_and_category_within_an_hour_joins_the_open_order(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    first = report(client, example_site, place="lobby-1", kind="lighting").json()
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(timedelta(minutes=59))
    second = report(client, example_site, place="lobby-1", kind="lighting", phone=OTHER_PHONE)
    assert second.status_code == 201
    joined = second.json()
    assert joined["joined"] is True and joined["code"] == first["code"]
    assert joined["reporters"] == 2 and joined["phone"] == "136****4321"
    assert token_of(joined) != token_of(first)
    # the second resident's link shows the order, their own phone, and no one else's
    mine = track(client, token_of(joined))
    assert mine["reporters"] == 2 and mine["phone"] == "136****4321"
    assert "139****5678" not in str(mine) and PHONE not in str(mine)
    assert mine["steps"][0]["label"] == "已受理（其他住户先报）"
    # another category at the same spot is another order; so is the same an hour later
    other = report(client, example_site, place="lobby-1", kind="door", phone="13700000001")
    assert other.json()["joined"] is False
    ctx.clock.advance(timedelta(minutes=2))
    later = report(client, example_site, place="lobby-1", kind="lighting", phone="13700000002")
    assert later.json()["joined"] is False and later.json()["code"] != first["code"]
    assert count(ctx, WorkOrder) == 3
    order_id = client.get(
        "/api/v1/work-orders", params={"q": first["code"]}, headers=bearer(tokens.duty)
    ).json()["items"][0]["id"]
    staff = client.get(f"/api/v1/work-orders/{order_id}/reporters", headers=bearer(tokens.duty))
    assert [p["phone"] for p in staff.json()] == ["139****5678", "136****4321"]


def test_reminding_twice_within_4_hours_is_429_saying_when_in_chinese(
    client: TestClient, ctx: AppContext, example_site: Site
) -> None:
    token = token_of(report(client, example_site).json())
    r = client.post(f"/api/v1/public/track/{token}/reminders")
    assert r.status_code == 201, r.text
    # the assignee 王工 and zone A's supervisor 周主管
    assert r.json()["notified"] == 2 and r.json()["next_allowed_local"] == "11月23日 14:00"
    with ctx.db.session() as s:
        told = s.scalars(
            select(Notification.recipient).where(Notification.topic == "work_order.reminded")
        ).all()
    assert sorted(told) == ["wang-gong", "zhou-zg"]
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(timedelta(hours=3, minutes=59))
    again = client.post(f"/api/v1/public/track/{token}/reminders")
    assert again.status_code == 429
    assert "11月23日 14:00" in again.json()["detail"] and again.headers["Retry-After"] == "60"
    assert track(client, token)["can_remind"] is False
    ctx.clock.advance(timedelta(minutes=1))
    assert client.post(f"/api/v1/public/track/{token}/reminders").status_code == 201
    labels = [s["label"] for s in track(client, token)["steps"]]
    assert labels.count("您已催单") == 2


def _resolve_and_close(client: TestClient, tokens: Tokens, order_id: int) -> None:
    for to, token in (
        ("accepted", tokens.technician),
        ("on_site", tokens.technician),
        ("resolved", tokens.technician),
        ("verified", tokens.duty),
        ("closed", tokens.duty),
    ):
        r = client.post(
            f"/api/v1/work-orders/{order_id}/transitions",
            json={"to": to},
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text


def _order_id(ctx: AppContext, code: str) -> int:
    with ctx.db.session() as s:
        found = s.scalar(select(WorkOrder.id).where(WorkOrder.code == code))
    assert found is not None
    return found


def test_the_resident_scores_the_closed_order_and_a_poor_repair_reopens_it(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    made = report(client, example_site).json()
    token, order_id = token_of(made), _order_id(ctx, made["code"])
    early = client.post(
        f"/api/v1/public/track/{token}/revisit",
        json={"response": 5, "quality": 5, "attitude": 5},
    )
    assert early.status_code == 409 and "办结后" in early.json()["detail"]
    _resolve_and_close(client, tokens, order_id)
    assert track(client, token)["can_revisit"] is True
    bad = client.post(
        f"/api/v1/public/track/{token}/revisit", json={"response": 6, "quality": 5, "attitude": 5}
    )
    assert bad.status_code == 422 and count(ctx, WorkOrderRevisit) == 0
    r = client.post(
        f"/api/v1/public/track/{token}/revisit",
        json={"response": 4, "quality": 2, "attitude": 5, "comment": "还在漏"},
    )
    assert r.status_code == 200, r.text
    with ctx.db.session() as s:
        row = s.scalars(select(WorkOrderRevisit)).one()
        assert (row.via, row.quality, row.outcome) == ("resident_link", 2, "reopened")
        assert s.get(WorkOrder, order_id).status == "reopened"  # type: ignore[union-attr]
        told = s.scalars(
            select(Notification.recipient).where(Notification.topic == "work_order.unsatisfied")
        ).all()
    assert told == ["zhou-zg"]
    assert r.json()["status_zh"] == "重新处理中"


def test_a_phone_is_masked_in_every_answer_and_log_but_whole_for_customer_service(
    client: TestClient,
    ctx: AppContext,
    tokens: Tokens,
    example_site: Site,
    service_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    made = report(client, example_site)
    token, order_id = token_of(made.json()), _order_id(ctx, made.json()["code"])
    client.post(f"/api/v1/public/track/{token}/reminders")
    duty = bearer(tokens.duty)
    answers = [
        made.text,
        client.get(f"/api/v1/public/track/{token}").text,
        client.get(f"/api/v1/work-orders/{order_id}", headers=duty).text,
        client.get("/api/v1/work-orders", headers=duty).text,
        client.get("/api/v1/work-orders/export", headers=duty).text,
        client.get(f"/api/v1/work-orders/{order_id}/comments", headers=duty).text,
        client.get(f"/api/v1/work-orders/{order_id}/reporters", headers=duty).text,
        client.get(
            f"/api/v1/work-orders/{order_id}/reporters", headers=bearer(tokens.technician)
        ).text,
    ]
    for text in answers:
        assert PHONE not in text
    assert "139****5678" in answers[-1]
    with ctx.db.session() as s:
        outbox = " ".join(f"{n.message} {n.payload}" for n in s.scalars(select(Notification)))
    assert PHONE not in outbox
    assert PHONE not in caplog.text
    whole = client.get(
        f"/api/v1/work-orders/{order_id}/reporters", headers=bearer(service_token)
    ).json()
    assert [p["phone"] for p in whole] == [PHONE]
    assert (ctx.var_dir / "resident-phone.key").stat().st_mode & 0o777 == 0o600


def test_phones_are_erased_after_the_retention_from_the_orders_close(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site, service_token: str
) -> None:
    made = report(client, example_site).json()
    order_id = _order_id(ctx, made["code"])
    still_open = report(client, example_site, building="3栋", phone=OTHER_PHONE).json()
    _resolve_and_close(client, tokens, order_id)
    assert isinstance(ctx.clock, ManualClock)
    retention = timedelta(days=180)
    ctx.clock.advance(retention - timedelta(minutes=1))
    with ctx.db.session() as s:
        assert erase_expired_phones(s, example_site.id, ctx.clock.now(), retention) == 0
    ctx.clock.advance(timedelta(minutes=1))
    with ctx.db.session() as s:
        assert erase_expired_phones(s, example_site.id, ctx.clock.now(), retention) == 1
    whole = client.get(
        f"/api/v1/work-orders/{order_id}/reporters", headers=bearer(service_token)
    ).json()
    assert whole[0]["phone"] is None and whole[0]["room"] is None and whole[0]["erased"] is True
    assert track(client, token_of(made))["phone"] is None
    kept = _order_id(ctx, still_open["code"])
    open_one = client.get(f"/api/v1/work-orders/{kept}/reporters", headers=bearer(service_token))
    assert open_one.json()[0]["phone"] == OTHER_PHONE


def test_an_unknown_tracking_link_is_404(client: TestClient) -> None:
    r = client.get("/api/v1/public/track/" + "A" * 32)
    assert r.status_code == 404 and "跟踪链接无效" in r.json()["detail"]
    assert client.post("/api/v1/public/track/" + "A" * 32 + "/reminders").status_code == 404


def test_the_service_role_reads_reporters_and_nothing_else(
    client: TestClient, service_token: str
) -> None:
    for path in ("/api/v1/work-orders", "/api/v1/alarms", "/api/v1/reports/hexie/stocktake"):
        assert client.get(path, headers=bearer(service_token)).status_code == 403, path


def test_the_same_report_sent_at_once_makes_one_order_with_every_reporter(
    ctx: AppContext, example_site: Site
) -> None:
    """Neighbours scanning the same code at the same moment (or one resident's double tap):
    each read finds no open order, yet one order comes of it, with every reporter on it."""
    phones = [f"1370000{n:04d}" for n in range(6)]
    with serve(create_app(ctx)) as base:

        def send(phone: str) -> dict[str, Any]:
            r = httpx.post(
                f"{base}/api/v1/public/sites/{example_site.id}/reports",
                data={
                    "kind": "lighting",
                    "description": "大堂灯不亮",
                    "phone": phone,
                    "place": "lobby-1",
                },
                timeout=30,
            )
            assert r.status_code == 201, r.text
            answer: dict[str, Any] = r.json()
            return answer

        with ThreadPoolExecutor(len(phones)) as pool:
            answers = list(pool.map(send, phones))
    assert len({a["code"] for a in answers}) == 1
    assert sorted(a["joined"] for a in answers) == [False] + [True] * 5
    assert count(ctx, WorkOrder) == 1 and count(ctx, ResidentReport) == 6
    assert max(a["reporters"] for a in answers) == 6
