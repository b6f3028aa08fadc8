"""Every route refuses a missing or wrong token, a token of the wrong role and of another site.

The table below is the access policy; a route missing from it fails the test, so a new route
cannot ship without one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import TokenRegistry
from api.deps import AppContext
from maintenance.alarms.models import Alarm
from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.notify.models import NotificationDelivery
from propwatch.clock import ManualClock, SystemClock
from propwatch.site import Site, load_site
from tests.api.conftest import MONDAY_10H, Tokens, bearer, make_ctx, make_tokens
from tests.conftest import EXAMPLE_SITE

R = {"duty", "technician", "integration"}  # readers
OPS = {"duty", "integration"}
STAFF = {"duty", "technician"}  # 巡查发现 and 整改: people, not the ticket system
POLICY: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/work-orders"): R,
    ("POST", "/api/v1/work-orders"): OPS,
    ("GET", "/api/v1/work-orders/by-external/{site_id}/{external_id}"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}"): R,
    ("POST", "/api/v1/work-orders/{work_order_id}/transitions"): R,
    ("POST", "/api/v1/work-orders/{work_order_id}/assign"): OPS,
    ("GET", "/api/v1/work-orders/{work_order_id}/assignee-suggestions"): OPS,
    ("POST", "/api/v1/work-orders/{work_order_id}/comments"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/comments"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/comments/{comment_id}"): R,
    ("PATCH", "/api/v1/work-orders/{work_order_id}"): OPS,
    ("POST", "/api/v1/work-orders/bulk"): OPS,
    ("POST", "/api/v1/work-orders/{work_order_id}/checklist"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/parts"): R,
    ("POST", "/api/v1/work-orders/{work_order_id}/parts"): R,
    ("DELETE", "/api/v1/work-orders/{work_order_id}/parts/{line_id}"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/costs"): R,
    ("POST", "/api/v1/work-orders/{work_order_id}/labour"): R,
    ("PATCH", "/api/v1/work-orders/{work_order_id}/labour/{entry_id}"): R,
    ("DELETE", "/api/v1/work-orders/{work_order_id}/labour/{entry_id}"): R,
    ("POST", "/api/v1/work-orders/{work_order_id}/extra-costs"): R,
    ("PATCH", "/api/v1/work-orders/{work_order_id}/extra-costs/{extra_id}"): R,
    ("DELETE", "/api/v1/work-orders/{work_order_id}/extra-costs/{extra_id}"): R,
    ("PUT", "/api/v1/work-orders/{work_order_id}/paid-repair"): OPS,
    ("DELETE", "/api/v1/work-orders/{work_order_id}/paid-repair"): OPS,
    ("GET", "/api/v1/sites/{site_id}/contractors"): R,
    ("GET", "/api/v1/sites/{site_id}/contracts"): R,
    ("GET", "/api/v1/sites/{site_id}/stores"): R,
    ("POST", "/api/v1/sites/{site_id}/stores"): {"duty"},
    ("POST", "/api/v1/sites/{site_id}/stores/{store_code}/counts"): {"duty"},
    ("GET", "/api/v1/sites/{site_id}/parts"): R,
    ("POST", "/api/v1/sites/{site_id}/parts"): {"duty"},
    ("GET", "/api/v1/sites/{site_id}/parts/{part_code}"): R,
    ("PATCH", "/api/v1/sites/{site_id}/parts/{part_code}"): {"duty"},
    ("GET", "/api/v1/sites/{site_id}/parts/{part_code}/movements"): OPS,
    ("POST", "/api/v1/sites/{site_id}/parts/{part_code}/receipts"): {"duty"},
    ("POST", "/api/v1/sites/{site_id}/parts/{part_code}/adjustments"): {"duty"},
    ("POST", "/api/v1/sites/{site_id}/parts/import"): {"duty"},
    ("GET", "/api/v1/sites/{site_id}/parts/export"): OPS,
    ("GET", "/api/v1/sites/{site_id}/plans"): R,
    ("POST", "/api/v1/sites/{site_id}/plans"): OPS,
    ("GET", "/api/v1/sites/{site_id}/plans/{plan_id}"): R,
    ("PUT", "/api/v1/sites/{site_id}/plans/{plan_id}"): OPS,
    ("DELETE", "/api/v1/sites/{site_id}/plans/{plan_id}"): OPS,
    ("GET", "/api/v1/sites/{site_id}/plans/{plan_id}/preview"): R,
    ("GET", "/api/v1/sites/{site_id}/plan-forecast"): R,
    ("GET", "/api/v1/sites/{site_id}/statutory-inspections"): R,
    ("POST", "/api/v1/sites/{site_id}/statutory-inspections"): OPS,
    ("GET", "/api/v1/sites/{site_id}/notices"): R,
    ("GET", "/api/v1/sites/{site_id}/reports/service"): OPS,
    ("GET", "/api/v1/sites/{site_id}/reports/service.pdf"): OPS,
    ("GET", "/api/v1/sites/{site_id}/labels.pdf"): {"duty"},  # 二维码标签: printed by the duty room
    ("GET", "/api/v1/alarms"): R,
    ("GET", "/api/v1/alarms/{alarm_id}"): R,
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): {"duty"},
    ("POST", "/api/v1/alarms/{alarm_id}/shelve"): {"duty"},
    ("POST", "/api/v1/alarms/{alarm_id}/unshelve"): {"duty"},
    ("POST", "/api/v1/alarms/{alarm_id}/out-of-service"): {"duty"},
    ("POST", "/api/v1/alarms/{alarm_id}/return-to-service"): {"duty"},
    ("GET", "/api/v1/alarms/history"): R,
    ("GET", "/api/v1/assets"): R,
    ("GET", "/api/v1/assets/{site_id}/{code}"): R,
    ("GET", "/api/v1/assets/{site_id}/{code}/record"): R,
    ("GET", "/api/v1/assets/{site_id}/{code}/telemetry"): R,
    ("POST", "/api/v1/assets/{site_id}/{code}/out-of-service"): {"duty"},
    ("POST", "/api/v1/assets/{site_id}/{code}/in-service"): {"duty"},
    ("GET", "/api/v1/assets/{site_id}/{code}/commands"): R,
    ("POST", "/api/v1/assets/{site_id}/{code}/commands"): {"duty"},  # 遥控: the duty room
    ("GET", "/api/v1/assets/{site_id}/{code}/commands/{command_id}"): R,
    ("GET", "/api/v1/assets/{site_id}/{code}/hierarchy"): R,
    ("GET", "/api/v1/assets/{site_id}/{code}/downtime"): R,
    ("GET", "/api/v1/sites/{site_id}/availability"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/downtime"): R,
    ("PUT", "/api/v1/work-orders/{work_order_id}/downtime"): R,
    ("DELETE", "/api/v1/work-orders/{work_order_id}/downtime"): R,
    ("GET", "/api/v1/reports/{site_id}/stocktake"): OPS,
    ("GET", "/api/v1/reports/{site_id}/monthly"): OPS,
    ("GET", "/api/v1/work-orders/export"): R,
    ("GET", "/api/v1/reports/{site_id}/daily"): OPS,
    ("GET", "/api/v1/reports/{site_id}/stocktake/export"): OPS,
    ("GET", "/api/v1/reports/{site_id}/monthly/export"): OPS,
    ("POST", "/api/v1/webhooks"): OPS,
    ("GET", "/api/v1/webhooks"): OPS,
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): OPS,
    ("GET", "/api/v1/webhooks/{subscription_id}/deliveries"): OPS,
    ("POST", "/api/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver"): OPS,
    ("POST", "/api/v1/webhooks/{subscription_id}/rotate-secret"): OPS,
    ("GET", "/api/v1/notifications/deliveries"): {"duty"},
    ("GET", "/api/v1/notifications/deliveries/{delivery_id}"): {"duty"},
    ("POST", "/api/v1/notifications/deliveries/{delivery_id}/resend"): {"duty"},
    ("GET", "/api/v1/tokens"): set(),
    ("POST", "/api/v1/tokens"): set(),
    ("POST", "/api/v1/tokens/{name}/rotate"): set(),
    ("DELETE", "/api/v1/tokens/{name}"): set(),
    ("GET", "/api/v1/audit"): set(),
    ("GET", "/api/v1/stream"): R,
    ("POST", "/api/v1/work-orders/{work_order_id}/attachments"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/attachments/{filename}"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/attachments"): R,
    ("DELETE", "/api/v1/work-orders/{work_order_id}/attachments/{filename}"): R,
    # 报修人: masked for everyone, whole for the service role (tests/api/test_resident_reports.py)
    ("GET", "/api/v1/work-orders/{work_order_id}/reporters"): R,
    # 扫码报修: no token at all, what a QR code opens (TOKENLESS below)
    ("GET", "/api/v1/public/sites/{site_id}/spot"): R,
    ("POST", "/api/v1/public/sites/{site_id}/reports"): R,
    ("GET", "/api/v1/public/track/{token}"): R,
    ("POST", "/api/v1/public/track/{token}/reminders"): R,
    ("POST", "/api/v1/public/track/{token}/revisit"): R,
    ("GET", "/api/v1/work-orders/{work_order_id}/checklist"): R,
    ("GET", "/api/v1/reports/{site_id}/lighting"): OPS,
    ("GET", "/api/v1/sites"): R,
    ("GET", "/api/v1/me"): R,
    ("GET", "/api/v1/site-files"): set(),
    ("GET", "/api/v1/overview"): OPS,
    ("GET", "/api/v1/reports/league"): OPS,
    ("POST", "/api/v1/sites/{site_id}/findings"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/findings/{finding_id}"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/findings/{finding_id}/photos"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/findings/{finding_id}/photos/{filename}"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/rectifications"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/rectifications/accountability"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/rectifications/{rectification_id}"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/rectifications/{rectification_id}/transitions"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/rectifications/{rectification_id}/work-order"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/rectifications/{rectification_id}/evidence"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/rectifications/{rectification_id}/evidence/{filename}"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/score-sheets"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/inspections"): {"duty"},
    ("GET", "/api/v1/sites/{site_id}/inspections"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/inspections/{inspection_id}"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/quality/league"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/quality/trend"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/quality/frequent"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/quality/form-options"): STAFF,
    ("POST", "/api/v1/sites/{site_id}/patrol/check-ins"): STAFF,
    ("GET", "/api/v1/sites/{site_id}/patrol/rounds"): STAFF,
    ("GET", "/api/v1/reports/quality-league"): {"duty"},  # 项目品质排名: the duty room's
}
ROLES = ("duty", "technician", "integration")
TOKENLESS = "/api/v1/public/"
"""Routes under it take no token (扫码报修): the site, the spot and the tracking link's own
random token stand in for one."""


def _api_routes() -> list[tuple[str, str]]:
    # routes only, no requests: an in-memory database that is never touched
    app = create_app(AppContext(Database("sqlite://"), {}, SystemClock(), TokenRegistry()))
    paths: dict[str, dict[str, object]] = app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, ops in paths.items()
        if path.startswith("/api/v1")
        for method in sorted(ops)
    ]


ROUTES = _api_routes()
GUARDED = [(m, p) for m, p in ROUTES if not p.startswith(TOKENLESS)]


def _url(path: str, site: Site) -> str:
    filled = path.format(
        site_id=site.id,
        external_id="TK-1",
        work_order_id=1,
        comment_id=1,
        alarm_id=1,
        command_id=1,
        code="P-1",
        part_code="LB-20W",
        store_code="main",
        line_id=1,
        entry_id=1,
        extra_id=1,
        subscription_id=1,
        delivery_id=1,
        name="duty",
        plan_id="no-such-plan",
        finding_id=1,
        rectification_id=1,
        inspection_id=1,
        filename="0123456789abcdef0123456789abcdef.jpg",
        token="A" * 32,
    )
    if filled.endswith(("/monthly", "/monthly/export")):
        filled += "?year=2026&month=11"
    if filled.endswith(("/reports/service", "/reports/service.pdf")):
        filled += "?month=2026-11"
    if filled.endswith("/labels.pdf"):
        filled += "?kind=asset&purpose=report"
    if filled.endswith(("/quality/league", "/quality/trend", "/quality-league")):
        filled += "?month=2026-11"
    return filled


BODIES: dict[str, dict[str, object]] = {
    "transitions": {"to": "accepted"},
    "assign": {"assignee": "wang-gong"},
    "comments": {"note": "已到场"},
    "checklist": {"item_id": "brake", "passed": True},
    "parts": {"part": "LB-20W", "quantity": 1},
    "paid-repair": {"quoted": "10"},
    "labour": {"person": "wang-gong", "minutes": 5, "work_date": "2026-11-23"},
    "extra-costs": {"description": "吊车", "amount": "1"},
    "shelve": {"until": "2026-11-24T00:00:00+00:00", "reason": "施工"},
    "out-of-service": {"reason": "传感器送修"},
    "commands": {"point": "circuit_1_command", "value": True},
    "check-ins": {"point": "lobby-1"},
    "downtime": {"since": "reported", "reason": "停泵检修"},
    "statutory-inspections": {
        "asset": "lift-1-1",
        "type": "elevator-periodic",
        "inspected_on": "2026-11-20",
        "passed": True,
        "certificate_no": "TS-1",
        "recorded_by": "wang-gong",
    },
}


def _call(client: TestClient, method: str, url: str, headers: dict[str, str]) -> int:
    if url.endswith("/api/v1/stream"):
        url += "?after=999999"  # answers the auth question without waiting for events
    if method == "POST" and url.endswith("/attachments"):
        photo = {"file": ("p.jpg", b"\xff\xd8\xff\xe0 photo", "image/jpeg")}
        uploaded: int = client.post(url, headers=headers, files=photo).status_code
        return uploaded
    body = BODIES.get(url.rsplit("/", 1)[-1], {})
    status: int = client.request(method, url, headers=headers, json=body).status_code
    return status


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Tokens, Site]]:
    """One database and app for the whole table: these tests only read answers."""
    site = load_site(EXAMPLE_SITE)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('authz')}/api.db")
    db.upgrade()
    context = make_ctx(db, site, ManualClock(MONDAY_10H))
    toks = make_tokens(context, site)
    with TestClient(create_app(context), raise_server_exceptions=False) as c:
        _seed(context, toks, c, site)
        yield c, toks, site
    db.dispose()


@pytest.fixture
def client(env: tuple[TestClient, Tokens, Site]) -> TestClient:
    return env[0]


@pytest.fixture
def seeded(env: tuple[TestClient, Tokens, Site]) -> Tokens:
    return env[1]


@pytest.fixture
def example_site(env: tuple[TestClient, Tokens, Site]) -> Site:
    return env[2]


def _seed(ctx: AppContext, tokens: Tokens, client: TestClient, example_site: Site) -> None:
    r = client.post(
        "/api/v1/work-orders",
        json={
            "site_id": example_site.id,
            "title": "门禁故障",
            "category": "access_control",
            "external_id": "TK-1",
        },
        headers=bearer(tokens.duty),
    )
    assert r.status_code == 201
    now = ctx.clock.now()
    with ctx.db.session() as s:
        s.add(
            Alarm(
                site_id=example_site.id,
                episode_id="ep-1",
                asset_code="P-1",
                alarm_type="pressure_low",
                severity="major",
                rule_id="r1",
                message="",
                state="raised",
                raised_at=now,
                raise_count=1,
                evidence={},
                chattering=False,
            )
        )
        # a given-up notification delivery, so another site's token meets one that exists
        outbox = Notification(
            site_id=example_site.id, topic="work_order.created", message="新工单", created_at=now
        )
        s.add(outbox)
        s.flush()
        s.add(
            NotificationDelivery(
                notification_id=outbox.id,
                site_id=example_site.id,
                channel_id="wecom-a",
                state="failed",
                attempts=8,
                next_attempt_at=now,
                created_at=now,
            )
        )


def test_policy_covers_every_route() -> None:
    assert sorted(POLICY) == sorted(ROUTES)


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p in ROUTES if p.startswith(TOKENLESS)])
def test_tokenless_route_answers_without_a_token(
    client: TestClient, example_site: Site, method: str, path: str
) -> None:
    """Refused for what it was sent (an unknown link, a form missing), never for a token."""
    status = _call(client, method, _url(path, example_site), {})
    assert status not in (401, 403, 405) and status < 500, (method, path, status)


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_route_refuses_a_missing_token(
    client: TestClient, example_site: Site, method: str, path: str
) -> None:
    r = client.request(method, _url(path, example_site), json={})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_route_refuses_a_wrong_token(
    client: TestClient, example_site: Site, method: str, path: str
) -> None:
    r = client.request(method, _url(path, example_site), json={}, headers=bearer("pw_forged"))
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [(m, p, role) for m, p in GUARDED for role in ROLES if role not in POLICY.get((m, p), R)],
)
def test_route_refuses_a_token_of_the_wrong_role(
    client: TestClient, seeded: Tokens, example_site: Site, method: str, path: str, role: str
) -> None:
    token = {
        "duty": seeded.duty,
        "technician": seeded.technician,
        "integration": seeded.integration,
    }[role]
    status = _call(client, method, _url(path, example_site), bearer(token))
    assert status == 403


SITE_SCOPED = [
    (m, p)
    for m, p in GUARDED
    if ("{" in p and "{name}" not in p and "{subscription_id}" not in p)
    and "duty" in POLICY.get((m, p), set())
]


@pytest.mark.parametrize(("method", "path"), SITE_SCOPED)
def test_route_refuses_a_token_of_another_site(
    client: TestClient, seeded: Tokens, example_site: Site, method: str, path: str
) -> None:
    status = _call(client, method, _url(path, example_site), bearer(seeded.other_site))
    assert status == 403


@pytest.mark.parametrize("path", ["/api/v1/work-orders", "/api/v1/alarms", "/api/v1/assets"])
def test_list_refuses_another_sites_filter(
    client: TestClient, seeded: Tokens, example_site: Site, path: str
) -> None:
    r = client.get(path, params={"site_id": example_site.id}, headers=bearer(seeded.other_site))
    assert r.status_code == 403


def test_list_shows_nothing_of_another_site(client: TestClient, seeded: Tokens) -> None:
    r = client.get("/api/v1/work-orders", headers=bearer(seeded.other_site))
    assert r.json()["items"] == []
