"""Isolation (数据隔离): a site, region or company token sees nothing of a site outside its scope,
through any route.

Three properties in two regions (tests/api/many_sites.py), each with work orders (comments and
a photo), alarms and their history, plans, outbox rows, notification and webhook deliveries,
webhook subscriptions and tokens. Four callers: an admin token of one site, one of a region
(two sites), one of the company, and a technician whose person id is on two sites' rosters.

Every operation of the OpenAPI document is called, path parameters filled with the objects of
each site in turn (and, for nested ids, an object of the caller's own site holding one of
another's), query parameters naming each site, region and order, bodies naming each site.
Nothing of a site outside the caller's scope may appear in any answer: body, headers, attachment
bytes, report, metrics text, stream events or error message (each site's id, name and asset
names are its markers; an id the caller itself sent is not counted as leaked). Another site's
object must be refused; an object within the scope must be reachable. An operation this walk
does not know how to call fails the test, so a new route cannot slip past.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.auth import ApiRole, issue_token
from api.deps import AppContext
from api.models import WebhookDelivery
from api.scopes import COMPANY
from maintenance.db import Database
from maintenance.notifications import Notification
from maintenance.notify.models import NotificationDelivery
from maintenance.residents.models import ResidentReport
from propwatch.clock import ManualClock
from propwatch.events import Severity
from tests.api import many_sites
from tests.api.conftest import ADMIN_TOKEN, MONDAY_10H, bearer
from tests.api.integration import migrated_database
from tests.api.live import serve
from tests.api.many_sites import SITES, many_sites_ctx
from tests.api.pages import raise_alarm

migrated_template = many_sites.migrated_template

CALLERS = ("site", "region", "company", "technician")
REGION_OF = {sid: region for sid, _, region in SITES}
NAME_OF = {sid: name for sid, name, _ in SITES}
SCOPES: dict[str, list[str]] = {
    "site": ["jiaxiu"],
    "region": ["region:east"],
    "company": [COMPANY],
    "technician": ["jiaxiu", "binghu"],
}
SEES: dict[str, set[str]] = {
    "site": {"jiaxiu"},
    "region": {"jiaxiu", "yiqing"},
    "company": {"jiaxiu", "yiqing", "binghu"},
    "technician": {"jiaxiu", "binghu"},
}
PERSON = "wang-gong"  # on every site's roster; the technician token is for two of them
# 品质检查 of the example's monthly sheet: its two mandatory items, one with a deduction
_INSPECTION: dict[str, Any] = {
    "sheet": "monthly",
    "results": [
        {"item": "pa-floor", "deductions": [{"rule": "litter", "count": 2, "place": "lobby-1"}]},
        {"item": "sf-exit"},
    ],
}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


@dataclass
class SiteData:
    """One site's objects, by the ids the routes take."""

    site_id: str
    work_order_id: int = 0  # assigned to wang-gong: the technician's task where it may see
    comment_id: int = 0
    filename: str = ""
    external_id: str = ""
    alarm_id: int = 0
    plan_id: str = "pump-monthly"
    code: str = "pump-1"
    subscription_id: int = 0
    webhook_delivery_id: int = 0
    notification_delivery_id: int = 0
    token_name: str = ""
    finding_id: int = 0
    rectification_id: int = 0
    finding_photo: str = ""
    evidence_photo: str = ""
    inspection_id: int = 0
    part_code: str = ""  # 备件, named after the site so that a leak of one shows
    part_line_id: int = 0
    command_id: int = 0  # 遥控 of the site's pump
    labour_id: int = 0  # 人工登记 and 其他费用 on the site's order
    extra_id: int = 0


@dataclass
class World:
    client: TestClient
    app: FastAPI
    ctx: AppContext
    caller: str
    token: str
    data: dict[str, SiteData] = field(default_factory=dict)

    @property
    def sees(self) -> set[str]:
        return SEES[self.caller]

    def inside(self) -> SiteData:
        return self.data["jiaxiu"]  # every caller sees 甲秀苑


# -- the world: three sites with data, a token of the caller ------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from migrated_database(request, tmp_path)


def _world(database: Database, tmp_path: Path, caller: str) -> Iterator[World]:
    clock = ManualClock(MONDAY_10H)
    ctx = many_sites_ctx(database, tmp_path / "sites", clock, tmp_path / "var")
    app = create_app(ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        data = {sid: _seed(client, ctx, sid, n) for n, (sid, _, _) in enumerate(SITES, 1)}
        clock.advance(timedelta(minutes=5))
        role = ApiRole.TECHNICIAN if caller == "technician" else ApiRole.ADMIN
        with ctx.db.session() as s:
            token = issue_token(
                s,
                name=f"caller-{caller}",
                role=role,
                sites=SCOPES[caller],
                person=PERSON if caller == "technician" else None,
                now=clock.now(),
            )
        yield World(client, app, ctx, caller, token, data)


def _ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


def _seed(client: TestClient, ctx: AppContext, site_id: str, n: int) -> SiteData:
    """Through the API as the company's admin where a route exists, else the services."""
    name = NAME_OF[site_id]
    admin = bearer(ADMIN_TOKEN)
    d = SiteData(site_id, external_id=f"TK-{n}")
    order = _ok(
        client.post(
            "/api/v1/work-orders",
            json={
                "site_id": site_id,
                "title": f"{name} 3栋楼道灯不亮",
                "category": "lighting",
                "asset": "pump-1",
                "assignee": PERSON,
                "external_id": d.external_id,
            },
            headers=admin,
        )
    )
    d.work_order_id = order["id"]
    _ok(
        client.post(
            "/api/v1/work-orders",
            json={"site_id": site_id, "title": f"{name} 电梯异响", "assignee": "li-shifu"},
            headers=admin,
        )
    )
    comment = _ok(
        client.post(
            f"/api/v1/work-orders/{d.work_order_id}/comments",
            json={"text": f"{name}: 已联系业主"},
            headers=admin,
        )
    )
    d.comment_id = comment["id"]
    photo = JPEG + f"photo of {site_id} {name}".encode()
    uploaded = _ok(
        client.post(
            f"/api/v1/work-orders/{d.work_order_id}/attachments",
            files={"file": ("p.jpg", photo, "image/jpeg")},
            data={"note": f"{name} 现场照片"},
            headers=admin,
        )
    )
    d.filename = uploaded["url"].rsplit("/", 1)[1]
    site = ctx.sites[site_id]
    d.alarm_id = raise_alarm(ctx, site, "pump-1", Severity.CRITICAL, f"{name} 出水压力过低")
    _ok(client.post(f"/api/v1/alarms/{d.alarm_id}/acknowledge", headers=admin))
    sub = _ok(
        client.post(
            "/api/v1/webhooks",
            json={
                "url": f"https://93.184.215.{n}/hooks",
                "event_types": ["work_order.created"],
                "sites": [site_id],
            },
            headers=admin,
        )
    )
    d.subscription_id = sub["id"]
    d.token_name = f"victim-{n}"
    _ok(
        client.post(
            "/api/v1/tokens",
            json={"name": d.token_name, "role": "duty", "sites": [site_id]},
            headers=admin,
        )
    )
    now = ctx.clock.now()
    with ctx.db.session() as s:
        outbox = s.scalars(
            select(Notification).where(Notification.site_id == site_id).order_by(Notification.id)
        ).first()
        assert outbox is not None
        delivery = NotificationDelivery(
            notification_id=outbox.id,
            site_id=site_id,
            channel_id=site.spec.notifications.channels[0].id,
            people=[PERSON],
            state="failed",
            attempts=8,
            next_attempt_at=now,
            last_error=f"{name} 企业微信不可达",
            created_at=now,
        )
        hook = WebhookDelivery(
            subscription_id=d.subscription_id,
            event_id=outbox.id,
            event_type="work_order.created",
            body=json.dumps({"site_id": site_id, "title": name}, ensure_ascii=False),
            state="failed",
            attempts=8,
            next_attempt_at=now,
            last_error=f"{name} 回调地址拒绝",
            created_at=now,
        )
        s.add_all([delivery, hook])
        s.flush()
        d.notification_delivery_id, d.webhook_delivery_id = delivery.id, hook.id
        # 报修人 of the site's order, its room naming the site: only its own callers may read it
        s.add(
            ResidentReport(
                work_order_id=d.work_order_id,
                site_id=site_id,
                token_hash=hashlib.sha256(site_id.encode()).hexdigest(),
                place_key="asset:pump-1",
                category="general",
                kind="other",
                phone_masked="139****5678",
                room=name[:32],
                joined=False,
                created_at=now,
            )
        )
    rect = _ok(
        client.post(
            f"/api/v1/sites/{site_id}/findings",
            json={"type": "facility", "severity": "general", "asset": "pump-1", "note": name},
            headers=admin,
        )
    )
    d.finding_id, d.rectification_id = rect["finding_id"], rect["id"]
    d.part_code = f"LB-{n}"
    _ok(
        client.post(
            f"/api/v1/sites/{site_id}/parts",
            json={"code": d.part_code, "name": f"{name} 灯泡", "unit": "个", "unit_price": "9.90"},
            headers=admin,
        )
    )
    _ok(
        client.post(
            f"/api/v1/sites/{site_id}/parts/{d.part_code}/receipts",
            json={"quantity": 5, "note": name},
            headers=admin,
        )
    )
    d.part_line_id = _ok(
        client.post(
            f"/api/v1/work-orders/{d.work_order_id}/parts",
            json={"part": d.part_code, "quantity": 1},
            headers=admin,
        )
    )["lines"][0]["id"]
    d.labour_id = _ok(
        client.post(
            f"/api/v1/work-orders/{d.work_order_id}/labour",
            json={"person": PERSON, "minutes": 30, "work_date": "2026-11-23", "note": name},
            headers=admin,
        )
    )["entries"][0]["id"]
    d.extra_id = _ok(
        client.post(
            f"/api/v1/work-orders/{d.work_order_id}/extra-costs",
            json={"description": f"{name} 吊车", "amount": "120.00"},
            headers=admin,
        )
    )["extras"][0]["id"]
    command = client.post(
        f"/api/v1/assets/{site_id}/pump-1/commands",
        json={"point": "run_command", "value": True},
        headers=admin,
    )
    assert command.status_code == 202, command.text
    d.command_id = command.json()["id"]
    d.inspection_id = _ok(
        client.post(
            f"/api/v1/sites/{site_id}/inspections",
            json=_INSPECTION | {"note": name},
            headers=admin,
        )
    )["id"]
    for kind, url in (
        ("finding_photo", f"/api/v1/sites/{site_id}/findings/{d.finding_id}/photos"),
        ("evidence_photo", f"/api/v1/sites/{site_id}/rectifications/{d.rectification_id}/evidence"),
    ):
        shot = _ok(client.post(url, files={"file": ("q.jpg", photo, "image/jpeg")}, headers=admin))
        setattr(d, kind, shot["url"].rsplit("/", 1)[1])
    return d


@pytest.fixture(params=CALLERS)
def world(request: pytest.FixtureRequest, database: Database, tmp_path: Path) -> Iterator[World]:
    yield from _world(database, tmp_path, request.param)


# -- how to call each operation -------------------------------------------------------------------

Q = "/api/v1/sites/{site_id}"  # 巡查发现 and 整改
PATH_PARAMS: dict[str, Callable[[SiteData], str | int]] = {
    "site_id": lambda d: d.site_id,
    "work_order_id": lambda d: d.work_order_id,
    "comment_id": lambda d: d.comment_id,
    "filename": lambda d: d.filename,
    "external_id": lambda d: d.external_id,
    "alarm_id": lambda d: d.alarm_id,
    "plan_id": lambda d: d.plan_id,
    "code": lambda d: d.code,
    "subscription_id": lambda d: d.subscription_id,
    "delivery_id": lambda d: d.notification_delivery_id,
    "name": lambda d: d.token_name,
    "finding_id": lambda d: d.finding_id,
    "rectification_id": lambda d: d.rectification_id,
    "inspection_id": lambda d: d.inspection_id,
    "part_code": lambda d: d.part_code,
    "store_code": lambda d: "main",  # every site's default store
    "line_id": lambda d: d.part_line_id,
    "command_id": lambda d: d.command_id,
    "entry_id": lambda d: d.labour_id,
    "extra_id": lambda d: d.extra_id,
}
# a parameter whose meaning depends on the route
PATH_PARAMS_OF: dict[tuple[str, str], Callable[[SiteData], str | int]] = {
    ("/api/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver", "delivery_id"): (
        lambda d: d.webhook_delivery_id
    ),
    (Q + "/findings/{finding_id}/photos/{filename}", "filename"): lambda d: d.finding_photo,
    (Q + "/rectifications/{rectification_id}/evidence/{filename}", "filename"): (
        lambda d: d.evidence_photo
    ),
}
# query parameters that name a site or one of its objects: each is tried with each site's
QUERY_SCOPED: dict[str, Callable[[SiteData], str | int]] = {
    "site_id": lambda d: d.site_id,
    "region": lambda d: REGION_OF[d.site_id],
    "work_order_id": lambda d: d.work_order_id,
    "external_id": lambda d: d.external_id,
}
REQUIRED_QUERY: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/v1/reports/{site_id}/monthly"): {"year": 2026, "month": 11},
    ("GET", "/api/v1/reports/{site_id}/monthly/export"): {"year": 2026, "month": 11},
    ("GET", Q + "/reports/service"): {"month": "2026-11"},
    ("GET", Q + "/reports/service.pdf"): {"month": "2026-11"},
    ("GET", Q + "/labels.pdf"): {"kind": "asset"},
    ("GET", "/api/v1/reports/league"): {"month": "2026-11"},
    ("GET", "/api/v1/reports/quality-league"): {"month": "2026-11"},
    ("GET", Q + "/quality/league"): {"month": "2026-11"},
    ("GET", Q + "/quality/trend"): {"month": "2026-11"},
}
Body = Callable[[SiteData], dict[str, Any]]
BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/work-orders"): lambda d: {
        "json": {"site_id": d.site_id, "title": "走廊灯不亮", "asset": d.code}
    },
    ("POST", "/api/v1/work-orders/bulk"): lambda d: {
        "content": json.dumps({"site_id": d.site_id, "title": "走廊灯不亮", "key": "k1"}),
        "headers": {"Content-Type": "application/x-ndjson"},
    },
    ("PATCH", "/api/v1/work-orders/{work_order_id}"): lambda d: {
        "json": {"title": "楼道灯不亮 (已核实)"},
        "headers": {"If-Match": "*"},
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/transitions"): lambda d: {
        "json": {"to": "accepted"}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/assign"): lambda d: {
        "json": {"assignee": "li-shifu"}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/comments"): lambda d: {
        "json": {"text": "已到场"}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/checklist"): lambda d: {
        "json": {"item_id": "brake", "passed": True}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/attachments"): lambda d: {
        "files": {"file": ("p.jpg", JPEG + b"x", "image/jpeg")}
    },
    ("POST", "/api/v1/alarms/{alarm_id}/shelve"): lambda d: {
        "json": {"until": "2026-11-24T00:00:00+08:00", "reason": "施工"}
    },
    ("POST", "/api/v1/alarms/{alarm_id}/out-of-service"): lambda d: {
        "json": {"reason": "传感器送修"}
    },
    ("POST", "/api/v1/assets/{site_id}/{code}/out-of-service"): lambda d: {
        "json": {"reason": "水泵检修"}
    },
    ("POST", "/api/v1/assets/{site_id}/{code}/commands"): lambda d: {
        "json": {"point": "run_command", "value": False}
    },
    ("PUT", "/api/v1/work-orders/{work_order_id}/downtime"): lambda d: {
        "json": {"since": "reported", "reason": "停泵检修"}
    },
    ("POST", "/api/v1/sites/{site_id}/plans"): lambda d: {
        "json": {"id": "pump-monthly-2", "template": "water-pump-monthly"}
    },
    ("PUT", "/api/v1/sites/{site_id}/plans/{plan_id}"): lambda d: {
        "json": {"id": d.plan_id, "template": "water-pump-monthly"}
    },
    ("POST", "/api/v1/sites/{site_id}/statutory-inspections"): lambda d: {
        "json": {
            "asset": "lift-1-1",
            "type": "elevator-periodic",
            "inspected_on": "2026-11-20",
            "passed": True,
            "certificate_no": f"TS-{d.site_id}",
            "recorded_by": "wang-gong",
        }
    },
    ("POST", "/api/v1/webhooks"): lambda d: {
        "json": {
            "url": "https://93.184.215.200/hooks",
            "event_types": ["work_order.created"],
            "sites": [d.site_id],
        }
    },
    ("POST", "/api/v1/webhooks/{subscription_id}/rotate-secret"): lambda d: {"json": {}},
    ("POST", "/api/v1/tokens"): lambda d: {
        "json": {"name": f"new-{d.site_id}", "role": "duty", "sites": [d.site_id]}
    },
    ("POST", Q + "/findings"): lambda d: {
        "json": {"type": "cleaning", "severity": "general", "place": "lobby-1"}
    },
    ("POST", Q + "/findings/{finding_id}/photos"): lambda d: {
        "files": {"file": ("p.jpg", JPEG + b"x", "image/jpeg")}
    },
    ("POST", Q + "/rectifications/{rectification_id}/evidence"): lambda d: {
        "files": {"file": ("p.jpg", JPEG + b"x", "image/jpeg")}
    },
    ("POST", Q + "/rectifications/{rectification_id}/transitions"): lambda d: {
        "json": {"to": "in_progress"}
    },
    ("POST", Q + "/rectifications/{rectification_id}/work-order"): lambda d: {"json": {}},
    ("POST", Q + "/inspections"): lambda d: {"json": _INSPECTION},
    ("POST", Q + "/patrol/check-ins"): lambda d: {"json": {"point": "lobby-1"}},
    ("POST", Q + "/stores"): lambda d: {"json": {"code": "b2", "name": "2号楼库房"}},
    ("POST", Q + "/stores/{store_code}/counts"): lambda d: {
        "json": {"lines": [{"part": d.part_code, "counted": 9}]}
    },
    ("POST", Q + "/parts"): lambda d: {
        "json": {"code": "NEW-1", "name": "新备件", "unit": "套", "unit_price": 1}
    },
    ("PATCH", Q + "/parts/{part_code}"): lambda d: {
        "json": {"spec": "E27"},
        "headers": {"If-Match": "*"},
    },
    ("POST", Q + "/parts/{part_code}/receipts"): lambda d: {"json": {"quantity": 1}},
    ("POST", Q + "/parts/{part_code}/adjustments"): lambda d: {
        "json": {"quantity": 1, "reason": "盘盈"}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/parts"): lambda d: {
        "json": {"part": d.part_code, "quantity": 1}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/labour"): lambda d: {
        "json": {"person": PERSON, "minutes": 10, "work_date": "2026-11-23"}
    },
    ("PATCH", "/api/v1/work-orders/{work_order_id}/labour/{entry_id}"): lambda d: {
        "json": {"minutes": 15}
    },
    ("POST", "/api/v1/work-orders/{work_order_id}/extra-costs"): lambda d: {
        "json": {"description": "吊车", "amount": "10"}
    },
    ("PATCH", "/api/v1/work-orders/{work_order_id}/extra-costs/{extra_id}"): lambda d: {
        "json": {"amount": "12"}
    },
    ("PUT", "/api/v1/work-orders/{work_order_id}/paid-repair"): lambda d: {
        "json": {"quoted": "50"}
    },
    ("POST", Q + "/parts/import"): lambda d: {
        "content": "code,name,unit,unit_price\nIMP-1,导入灯泡,个,2.50\n".encode(),
        "headers": {"Content-Type": "text/csv"},
    },
}
# a body naming a region instead of a site, tried beside the site's
REGION_BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/tokens"): lambda d: {
        "json": {
            "name": f"new-r-{d.site_id}",
            "role": "duty",
            "sites": [f"region:{REGION_OF[d.site_id]}"],
        }
    },
}
STREAM = ("GET", "/api/v1/stream")
# 扫码报修: no token by design (a QR code opens them; a site's id and name are on its labels),
# walked in tests/api/test_authorization.py and tests/api/test_resident_reports.py
TOKENLESS = "/api/v1/public/"
# within the scope, yet refused by design
REFUSED_IN_SCOPE: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/audit"): {"site", "region"},  # spans every site: company admins only
}


@dataclass
class Call:
    method: str
    path: str
    url: str
    params: dict[str, Any]
    request: dict[str, Any]  # json, content, files, headers
    site: str  # the site the call is about ("": none)
    # whether the call names an object in its path or body (another site's must be refused), or
    # only filters a list by it (an empty list is a fine answer for another site's)
    names_object: bool
    allowed: bool = True  # within the caller's scope

    def sent(self) -> str:
        return f"{self.url} {self.params} {self.request.get('json')} {self.request.get('content')}"


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    paths: dict[str, dict[str, dict[str, Any]]] = app.openapi()["paths"]
    return [(m.upper(), p, op) for p, ops in paths.items() for m, op in ops.items()]


def _calls(world: World, method: str, path: str, op: dict[str, Any]) -> list[Call]:
    """Every way the walk calls one operation; AssertionError if it does not know how."""
    params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
    in_path = [p["name"] for p in params if p["in"] == "path"]
    for name in in_path:
        assert name in PATH_PARAMS or (path, name) in PATH_PARAMS_OF, (
            f"{method} {path}: the isolation walk does not know path parameter {name!r}; "
            "teach it (PATH_PARAMS) which object of a site it names"
        )
    required = [p["name"] for p in params if p["in"] == "query" and p.get("required")]
    fixed = REQUIRED_QUERY.get((method, path), {})
    missing = [q for q in required if q not in fixed]
    assert not missing, f"{method} {path}: the walk needs values for query {missing}"
    has_body = "requestBody" in op
    assert not has_body or (method, path) in BODIES, (
        f"{method} {path}: the isolation walk has no body for this operation (BODIES)"
    )

    def value(name: str, d: SiteData) -> str | int:
        return PATH_PARAMS_OF.get((path, name), PATH_PARAMS.get(name, lambda _: ""))(d)

    def url(parts: dict[str, SiteData]) -> str:
        return path.format(**{n: value(n, parts[n]) for n in in_path})

    out: list[Call] = []
    bodies = [BODIES[(method, path)]] if has_body else [lambda _d: {}]
    own = world.inside()
    for d in world.data.values():
        inside = d.site_id in world.sees
        # every parameter and the body from one site
        whole = url(dict.fromkeys(in_path, d))
        names = bool(in_path) or has_body
        out.append(Call(method, path, whole, dict(fixed), bodies[0](d), d.site_id, names, inside))
        if (method, path) in REGION_BODIES:
            region = f"region:{REGION_OF[d.site_id]}"
            covered = COMPANY in SCOPES[world.caller] or region in SCOPES[world.caller]
            body = REGION_BODIES[(method, path)](d)
            out.append(Call(method, path, whole, dict(fixed), body, d.site_id, True, covered))
        last = in_path[-1] if len(in_path) > 1 else None
        if last is not None and not inside and value(last, d) != value(last, own):
            # the caller's own object holding another site's: /work-orders/{own}/comments/{other}
            parts = dict.fromkeys(in_path[:-1], own) | {last: d}
            out.append(
                Call(method, path, url(parts), dict(fixed), bodies[0](own), d.site_id, True, False)
            )
        for q in (p["name"] for p in params if p["in"] == "query"):
            if q in QUERY_SCOPED:
                parts = dict.fromkeys(in_path, own)
                query = {**fixed, q: QUERY_SCOPED[q](d)}
                out.append(
                    Call(method, path, url(parts), query, bodies[0](own), d.site_id, False, inside)
                )
    if not in_path and not has_body:
        out.append(Call(method, path, path, dict(fixed), {}, "", False))
    return out


# -- what must not be seen --------------------------------------------------------------------


def _markers(world: World, site_id: str) -> list[str]:
    site = world.ctx.sites[site_id]
    return [site_id, site.spec.site.name, *(a.name for a in site.spec.assets)]


def _leaks(world: World, call: Call, answer: bytes, headers: str = "") -> list[str]:
    """The markers of sites outside the scope found in an answer (those the call itself sent
    excepted: an echo of the caller's own input tells it nothing)."""
    sent = call.sent()
    found = []
    for site_id in world.data:
        if site_id in world.sees:
            continue
        for marker in _markers(world, site_id):
            if marker in sent:
                continue
            if marker.encode() in answer or marker in headers:
                found.append(marker)
    return found


def _send(world: World, call: Call) -> httpx.Response:
    headers = {**bearer(world.token), **call.request.get("headers", {})}
    kwargs = {k: v for k, v in call.request.items() if k != "headers"}
    r: httpx.Response = world.client.request(
        call.method, call.url, params=call.params, headers=headers, **kwargs
    )
    return r


def _order(calls: list[Call]) -> list[Call]:
    """Reads first, then changes, removals last: a removal does not hide what a read would show."""
    rank = {"GET": 0, "HEAD": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    return sorted(calls, key=lambda c: rank[c.method])


def _expect(world: World, call: Call, r: httpx.Response) -> str | None:
    """What is wrong with the answer's status, or None."""
    if r.status_code >= 500:
        return f"{r.status_code} {r.text[:300]}"
    key = (call.method, call.path)
    status = _status(r)
    if not call.allowed:
        if call.names_object and status < 400:
            return f"{status}: another site's object was not refused"
        return None
    refused = status in (403, 404)
    if world.caller in REFUSED_IN_SCOPE.get(key, set()):
        return None if status == 403 else f"{status}: should be refused"
    if world.caller == "technician":
        return None  # roles and own tasks: tests/api/test_authorization.py
    if call.method == "GET" and call.site != "" and not call.names_object:
        return None  # a filter within the scope: any answer but a leak
    if refused:
        return f"{status} for an object within the scope: {r.text[:300]}"
    return None


def _status(r: httpx.Response) -> int:
    """The answer's status; a bulk answer's worst row (each NDJSON row has its own)."""
    if r.headers.get("content-type", "").startswith("application/x-ndjson"):
        rows = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        return max([r.status_code, *(int(row["status"]) for row in rows)])
    return r.status_code


def _stream_events(world: World) -> list[dict[str, Any]]:
    """Every event the stream sends this caller from the start, read over a real server."""
    with world.ctx.db.session() as s:
        q = select(Notification.id).where(Notification.site_id.in_(sorted(world.sees)))
        if world.caller == "technician":
            q = q.where(Notification.recipient == PERSON)
        expected = len(s.scalars(q).all())
    events: list[dict[str, Any]] = []
    if expected == 0:
        return events
    with (
        serve(world.app) as base,
        httpx.Client(base_url=base, timeout=10) as http,
        http.stream("GET", "/api/v1/stream?after=0", headers=bearer(world.token)) as r,
    ):
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == expected:
                    break
    return events


def test_no_route_shows_a_caller_anything_of_a_site_outside_its_scope(world: World) -> None:
    wrong: list[str] = []
    walked: set[tuple[str, str]] = set()
    calls = []
    for method, path, op in _operations(world.app):
        walked.add((method, path))
        if (method, path) == STREAM or path.startswith(TOKENLESS):
            continue
        calls += _calls(world, method, path, op)
    for call in _order(calls):
        r = _send(world, call)
        headers = " ".join(f"{k}: {v}" for k, v in r.headers.items())
        leaked = _leaks(world, call, r.content, headers)
        if leaked:
            wrong.append(
                f"{call.method} {call.url} {call.params} -> {r.status_code} shows {leaked}"
            )
        problem = _expect(world, call, r)
        if problem:
            wrong.append(f"{call.method} {call.url} {call.params} -> {problem}")
    assert STREAM in walked
    events = _stream_events(world)
    stream_call = Call("GET", STREAM[1], STREAM[1], {}, {}, "", False)
    for event in events:
        if event.get("site_id") not in world.sees or _leaks(
            world, stream_call, json.dumps(event, ensure_ascii=False).encode()
        ):
            wrong.append(f"stream event {event}")
    assert not wrong, "\n".join(wrong)


def test_every_caller_reaches_the_lists_of_each_site_in_its_scope(world: World) -> None:
    """The walk above finds no leak in an empty answer: the lists show every site in scope."""
    lists = ["/api/v1/alarms", "/api/v1/alarms/history", "/api/v1/sites", "/api/v1/work-orders"]
    if world.caller != "technician":
        lists += [
            "/api/v1/assets",
            "/metrics",
            "/api/v1/webhooks",
            "/api/v1/tokens",
            "/api/v1/notifications/deliveries",
            "/api/v1/reports/quality-league?month=2026-11",  # 项目品质排名: its sites only
        ]
    for path in lists:
        r = world.client.get(path, headers=bearer(world.token))
        assert r.status_code == 200, (path, r.text)
        for site_id in world.sees:
            assert site_id in r.text, (path, site_id)
    events = _stream_events(world)
    assert events and {e["site_id"] for e in events} <= world.sees
    if world.caller != "technician":
        assert {e["site_id"] for e in events} == world.sees


def test_the_walk_refuses_an_operation_it_does_not_know() -> None:
    """A new route with a parameter the walk cannot fill fails it rather than being skipped."""
    app = FastAPI()
    world = World(
        client=TestClient(app),  # never called: the walk refuses before any request
        app=app,
        ctx=cast(AppContext, None),
        caller="site",
        token="",
        data={sid: SiteData(sid) for sid, _, _ in SITES},
    )
    op = {"parameters": [{"name": "meter_id", "in": "path", "required": True}]}
    with pytest.raises(AssertionError, match="meter_id"):
        _calls(world, "GET", "/api/v1/meters/{meter_id}", op)
    with pytest.raises(AssertionError, match="no body"):
        _calls(world, "POST", "/api/v1/meters", {"requestBody": {}})
    with pytest.raises(AssertionError, match="query"):
        _calls(
            world,
            "GET",
            "/api/v1/meters",
            {"parameters": [{"name": "floor", "in": "query", "required": True}]},
        )
