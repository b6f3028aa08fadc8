"""The SSE stream over a real uvicorn server: live events, and resuming with Last-Event-ID."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from propwatch.site import Site
from tests.api.conftest import Tokens, bearer
from tests.api.live import serve


def _read_events(
    base: str, token: str, count: int, last_id: str | None = None
) -> list[dict[str, Any]]:
    headers = bearer(token) | ({"Last-Event-ID": last_id} if last_id else {})
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with (
        httpx.Client(base_url=base, timeout=10) as http,
        http.stream("GET", "/api/v1/stream", headers=headers) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("id: "):
                current["id"] = line[4:]
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "id" in current:
                events.append(current)
                current = {}
                if len(events) == count:
                    break
    return events


def _create(base: str, token: str, site: Site, title: str) -> None:
    r = httpx.post(
        f"{base}/api/v1/work-orders",
        json={"site_id": site.id, "title": title, "category": "general"},
        headers=bearer(token),
    )
    assert r.status_code == 201


def test_reconnect_with_last_event_id_resumes_without_gaps(
    app: FastAPI, tokens: Tokens, example_site: Site
) -> None:
    with serve(app) as base:
        for title in ("一", "二", "三"):
            _create(base, tokens.duty, example_site, title)
        first = _read_events(base, tokens.duty, 1)
        rest = _read_events(base, tokens.duty, 2, last_id=first[0]["id"])
    ids = [int(e["id"]) for e in first + rest]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [e["data"]["message"][-1] for e in first + rest] == ["一", "二", "三"]


def test_stream_delivers_a_change_made_after_connecting(
    app: FastAPI, tokens: Tokens, example_site: Site
) -> None:
    import threading

    with serve(app) as base:
        got: list[dict[str, Any]] = []
        reader = threading.Thread(target=lambda: got.extend(_read_events(base, tokens.duty, 1)))
        reader.start()
        _create(base, tokens.duty, example_site, "电梯困人")
        reader.join(10)
    assert got[0]["event"] == "work_order.created"
