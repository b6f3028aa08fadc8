"""Webhooks and PostgreSQL's commit order: an outbox row whose id was drawn before a visible
one, but committed after it (the API and a maintenance replica writing at once), is still
delivered, after the fan-out waited for it; a rolled back one leaves a gap passed over."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.deps import AppContext
from api.webhooks.delivery import WebhookDispatcher
from api.webhooks.targets import WebhookTargets
from maintenance.notifications import notify
from tests.api.conftest import ADMIN_TOKEN, bearer
from tests.api.live import Receiver, receiver
from tests.api.many_sites import migrated_template, sites_client, sites_ctx, sites_db

__all__ = ["migrated_template", "sites_client", "sites_ctx", "sites_db"]

SECRET = "whsec_commit-order-0123456789"
LOOPBACK = WebhookTargets.allowing(["127.0.0.1"])


def _notify(s: Session, ctx: AppContext, message: str) -> None:
    notify(s, site_id="jiaxiu", topic="work_order.created", message=message, at=ctx.clock.now())


def _deliver(dispatcher: WebhookDispatcher) -> int:
    return asyncio.run(dispatcher.run_once())


# PostgreSQL only, not a skip on SQLite: SQLite has one writer at a time, so its rows commit in
# id order and there is nothing out of order to show
@pytest.mark.parametrize("sites_db", ["postgresql"], indirect=True)
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_row_committed_after_a_later_one_is_still_delivered(
    sites_client: TestClient, sites_ctx: AppContext, outcome: str
) -> None:
    sites_ctx.webhook_targets = LOOPBACK
    with receiver(Receiver(SECRET, int(sites_ctx.clock.now().timestamp()))) as hook:
        r = sites_client.post(
            "/api/v1/webhooks",
            json={
                "url": hook.url,
                "event_types": ["work_order.created"],
                "sites": ["*"],
                "secret": SECRET,
            },
            headers=bearer(ADMIN_TOKEN),
        )
        assert r.status_code == 201, r.text
        dispatcher = WebhookDispatcher(sites_ctx.db, sites_ctx.clock, targets=LOOPBACK)
        try:
            with sites_ctx.db.sessions() as a:
                a.begin()
                _notify(a, sites_ctx, "甲：先取号后提交")
                a.flush()  # the id is drawn now
                with sites_ctx.db.session() as b:
                    _notify(b, sites_ctx, "乙：后取号先提交")
                assert _deliver(dispatcher) == 0, "a later row went out before an earlier one"
                a.commit() if outcome == "commit" else a.rollback()
            wanted = 2 if outcome == "commit" else 1
            posted = 0
            for _ in range(100):  # the gap settles at the first pass after A ended
                posted += _deliver(dispatcher)
                if posted >= wanted:
                    break
                time.sleep(0.02)
            assert _deliver(dispatcher) == 0
        finally:
            asyncio.run(dispatcher.aclose())
        bodies: list[dict[str, Any]] = [json.loads(body) for _, body, _ in hook.received]
    expected = ["甲", "乙"] if outcome == "commit" else ["乙"]
    assert [b["message"][0] for b in bodies] == expected, bodies
