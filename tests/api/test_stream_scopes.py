"""An open stream of a region token follows the region (real uvicorn, SQLite and PostgreSQL): a
property added to the region while the stream is open shows on it, one moved out of the region
stops showing, and other regions never show."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import ApiRole, issue_token
from api.deps import AppContext
from propwatch.site import load_site
from tests.api.conftest import ADMIN_TOKEN, bearer
from tests.api.live import serve
from tests.api.many_sites import add_site, migrated_template, sites_client, sites_ctx, sites_db
from tests.support.servers import wait_until
from tests.support.sites import copy_example_site

__all__ = ["migrated_template", "sites_client", "sites_ctx", "sites_db"]


class Stream:
    """A client reading `/api/v1/stream` in a thread, keeping every event's site and message."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.events: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        with (
            httpx.Client(base_url=self.base, timeout=30) as http,
            http.stream("GET", "/api/v1/stream", headers=bearer(self.token)) as r,
        ):
            for line in r.iter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    self.events.append((data["site_id"], data["message"]))
                if self.stop.is_set():
                    return

    def messages(self) -> list[str]:
        return [m for _, m in self.events]


def _order(base: str, site_id: str, title: str) -> None:
    r = httpx.post(
        f"{base}/api/v1/work-orders",
        json={"site_id": site_id, "title": title, "category": "general"},
        headers=bearer(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text


def _shown(stream: Stream, title: str) -> None:
    wait_until(lambda: any(title in m for m in stream.messages()), 10, f"{title} on the stream")


def test_an_open_region_stream_follows_the_regions_sites(
    sites_ctx: AppContext, sites_client: TestClient, tmp_path: Path
) -> None:
    with sites_ctx.db.session() as s:
        east = issue_token(
            s, name="east", role=ApiRole.DUTY, sites=["region:east"], person=None,
            now=sites_ctx.clock.now(),
        )  # fmt: skip
    folder = tmp_path / "sites"
    with serve(create_app(sites_ctx)) as base:
        stream = Stream(base, east)
        stream.thread.start()
        _order(base, "binghu", "北区工单")  # another region: never shown
        _order(base, "jiaxiu", "甲秀苑工单")
        _shown(stream, "甲秀苑工单")  # the stream is open and live from here
        add_site(sites_ctx, folder, "dingxiang", "丁香苑", "east")
        _order(base, "dingxiang", "丁香苑工单")
        _shown(stream, "丁香苑工单")
        # 乙清园 moves to the north: its file edited, a new snapshot of the sites
        moved = load_site(copy_example_site(folder, "yiqing", "乙清园", region="north"))
        sites_ctx.sites = {**sites_ctx.sites, "yiqing": moved}
        _order(base, "yiqing", "乙清园工单")
        _order(base, "jiaxiu", "甲秀苑收尾")
        _shown(stream, "甲秀苑收尾")
        stream.stop.set()
        _order(base, "jiaxiu", "唤醒读者")  # wakes the reader to see `stop`
        stream.thread.join(10)
    sites = [site for site, _ in stream.events]
    assert set(sites) <= {"jiaxiu", "dingxiang"}, stream.events
    assert not any(t in m for m in stream.messages() for t in ("北区工单", "乙清园工单"))
