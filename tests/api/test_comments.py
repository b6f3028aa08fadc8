"""Comments as their own resource (`GET/POST …/comments`, `GET …/comments/{id}`), announced as
`work_order.commented` and, for an upload, `work_order.attachment_added`, delivered to a real
signed-webhook receiver; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher
from api.webhooks.targets import WebhookTargets
from maintenance.notifications import Notification
from maintenance.work_orders.models import Step, WorkOrderTransition
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.api import integration
from tests.api.conftest import Tokens, bearer
from tests.api.integration import create_order
from tests.api.live import Receiver, receiver, serve

db, migrated_template, example_site = (
    integration.db,
    integration.migrated_template,
    integration.example_site,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
SECRET = "whsec_comments-0123456789abcdef"


def _comment(client: TestClient, token: str, order_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/work-orders/{order_id}/comments", json=body, headers=bearer(token))


def _comments(client: TestClient, token: str, order_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/work-orders/{order_id}/comments", headers=bearer(token))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_comment_is_created_with_its_author_time_text_and_attachments(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    clock.advance(timedelta(minutes=5))
    r = _comment(
        client,
        tokens.technician,
        made["id"],
        text="已到现场，镇流器烧毁",
        attachments=["photos/before.jpg"],
    )
    assert r.status_code == 201, r.text
    comment = r.json()
    assert comment["author"] == "wang-gong"
    assert comment["author_name"] == "王工"
    assert datetime.fromisoformat(comment["at"]) == clock.now()
    assert comment["text"] == "已到现场，镇流器烧毁"
    assert comment["attachments"] == ["photos/before.jpg"]
    assert comment["work_order_id"] == made["id"]
    assert r.headers["Location"] == f"/api/v1/work-orders/{made['id']}/comments/{comment['id']}"
    one = client.get(r.headers["Location"], headers=bearer(tokens.integration))
    assert one.status_code == 200
    assert one.json() == comment
    assert r.headers["ETag"] != made["etag"]


def test_the_list_holds_only_comments_oldest_first(
    client: TestClient, tokens: Tokens, example_site: Site, clock: ManualClock
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    _comment(client, tokens.duty, made["id"], text="请尽快处理")
    client.post(
        f"/api/v1/work-orders/{made['id']}/transitions",
        json={"to": "accepted"},
        headers=bearer(tokens.technician),
    )
    clock.advance(timedelta(minutes=1))
    _comment(client, tokens.integration, made["id"], note="业主来电催促")  # the older name
    listed = _comments(client, tokens.integration, made["id"])
    assert [(c["author"], c["text"]) for c in listed] == [
        ("duty", "请尽快处理"),
        ("tickets", "业主来电催促"),
    ]
    assert listed[0]["author_name"] is None  # a token, not a person of the site


def test_a_comment_of_another_order_or_a_step_that_is_not_one_is_404(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    a = create_order(client, tokens.duty, example_site)
    b = create_order(client, tokens.duty, example_site)
    made = _comment(client, tokens.duty, a["id"], text="跟进").json()
    r = client.get(
        f"/api/v1/work-orders/{b['id']}/comments/{made['id']}", headers=bearer(tokens.duty)
    )
    assert r.status_code == 404
    with ctx.db.session() as s:
        registered = s.scalar(
            select(WorkOrderTransition.id).where(
                WorkOrderTransition.work_order_id == a["id"],
                WorkOrderTransition.to_status == "registered",
            )
        )
    r = client.get(
        f"/api/v1/work-orders/{a['id']}/comments/{registered}", headers=bearer(tokens.duty)
    )
    assert r.status_code == 404


def test_a_technician_comments_only_on_their_own_tasks(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    theirs = create_order(client, tokens.duty, example_site, assignee="li-shifu")
    assert _comment(client, tokens.technician, theirs["id"], text="我来看看").status_code == 403
    r = client.get(
        f"/api/v1/work-orders/{theirs['id']}/comments", headers=bearer(tokens.technician)
    )
    assert r.status_code == 403


def test_a_comment_tells_the_assignee_unless_they_wrote_it(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    _comment(client, tokens.duty, made["id"], text="业主下午在家")
    _comment(client, tokens.technician, made["id"], text="下午过去")
    with ctx.db.session() as s:
        rows = list(
            s.scalars(
                select(Notification)
                .where(Notification.topic == "work_order.commented")
                .order_by(Notification.id)
            )
        )
        told = [(n.recipient, n.payload["author"], n.payload["text"]) for n in rows]
    assert told == [("wang-gong", "duty", "业主下午在家"), (None, "wang-gong", "下午过去")]


def _deliver(ctx: AppContext) -> int:
    async def once() -> int:
        dispatcher = WebhookDispatcher(
            ctx.db, ctx.clock, targets=WebhookTargets.allowing(["127.0.0.1"])
        )
        try:
            return await dispatcher.run_once()
        finally:
            await dispatcher.aclose()

    return asyncio.run(once())


def test_comments_and_uploads_reach_a_subscribed_receiver_signed(
    client: TestClient, ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    ctx.webhook_targets = WebhookTargets.allowing(["127.0.0.1"])
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    with receiver(Receiver(SECRET, now=int(ctx.clock.now().timestamp()))) as hook:
        r = client.post(
            "/api/v1/webhooks",
            json={
                "url": hook.url,
                "event_types": ["work_order.commented", "work_order.attachment_added"],
                "sites": [example_site.id],
                "secret": SECRET,
            },
            headers=bearer(tokens.integration),
        )
        assert r.status_code == 201, r.text
        comment = _comment(client, tokens.duty, made["id"], text="请带梯子").json()
        upload = client.post(
            f"/api/v1/work-orders/{made['id']}/attachments",
            files={"file": ("after.jpg", JPEG, "image/jpeg")},
            data={"note": "修好后"},
            headers=bearer(tokens.technician),
        )
        assert upload.status_code == 201, upload.text
        assert _deliver(ctx) == 2
    assert all(ok for _, _, ok in hook.received)
    events = [json.loads(body) for _, body, _ in hook.received]
    assert [e["type"] for e in events] == ["work_order.commented", "work_order.attachment_added"]
    assert [h["Propwatch-Event"] for h, _, _ in hook.received] == [e["type"] for e in events]
    assert events[0]["data"]["comment_id"] == comment["id"]
    assert events[0]["data"]["text"] == "请带梯子"
    assert events[1]["data"]["attachment"] == upload.json()["ref"]
    assert events[1]["data"]["author"] == "wang-gong"
    assert events[1]["data"]["size"] == len(JPEG)


def test_an_upload_is_a_comment_holding_its_reference(
    client: TestClient, tokens: Tokens, example_site: Site
) -> None:
    made = create_order(client, tokens.duty, example_site, assignee="wang-gong")
    upload = client.post(
        f"/api/v1/work-orders/{made['id']}/attachments",
        files={"file": ("p.jpg", JPEG, "image/jpeg")},
        headers=bearer(tokens.technician),
    ).json()
    listed = _comments(client, tokens.duty, made["id"])
    assert [(c["author"], c["attachments"]) for c in listed] == [("wang-gong", [upload["ref"]])]
    assert listed[0]["text"] == "上传附件 p.jpg"


def test_comments_sent_at_once_with_one_etag_one_is_kept_the_others_are_412(
    ctx: AppContext, tokens: Tokens, example_site: Site
) -> None:
    """The ETag is compared under the row's lock: eight writers holding one version cannot all
    pass the check before any of them changes the order."""
    with TestClient(create_app(ctx)) as setup:
        made = create_order(setup, tokens.integration, example_site)
    with serve(create_app(ctx)) as base:

        def send(n: int) -> int:
            r = httpx.post(
                f"{base}/api/v1/work-orders/{made['id']}/comments",
                json={"text": f"同时补充 {n}"},
                headers={**bearer(tokens.integration), "If-Match": made["etag"]},
                timeout=30,
            )
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(send, range(8)))
    assert statuses == [201] + [412] * 7
    with ctx.db.session() as s:
        kept = s.scalars(
            select(WorkOrderTransition).where(
                WorkOrderTransition.work_order_id == made["id"],
                WorkOrderTransition.to_status == Step.NOTE,
            )
        ).all()
    assert len(kept) == 1
