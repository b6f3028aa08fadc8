"""The process's one outbox feed: one read per new row for all streams, in id order without gaps
even when transactions commit out of order (PostgreSQL), a slow subscriber ended, not grown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from api import outbox_feed
from api.outbox_feed import OutboxFeed, Subscription
from maintenance.db import Database
from maintenance.notifications import NotificationView, notify

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    d = Database(database_url)
    d.upgrade()
    yield d
    d.dispose()


def _write(db: Database, message: str, site: str = "s1") -> None:
    with db.session() as s:
        notify(s, site_id=site, topic="work_order.created", message=message, at=AT)


async def _take(sub: Subscription, count: int, seconds: float = 5.0) -> list[NotificationView]:
    got: list[NotificationView] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while len(got) < count and loop.time() < deadline:
        row = await sub.next(deadline - loop.time())
        if row is not None:
            got.append(row)
    return got


def test_every_subscriber_gets_each_row_its_scope_admits_from_one_read(db: Database) -> None:
    async def scenario() -> tuple[list[list[str]], dict[str, int]]:
        feed = OutboxFeed(db, poll_seconds=0.05)
        subs = [await feed.subscribe(lambda n: n.site_id == "s1") for _ in range(50)]
        other = await feed.subscribe(lambda n: n.site_id == "s2")
        reads_before = feed.counts["reads"]
        for m in ("一", "二", "三"):
            await asyncio.to_thread(_write, db, m)
        await asyncio.to_thread(_write, db, "别处", "s2")
        got = [[n.message for n in await _take(s, 3)] for s in subs]
        got.append([n.message for n in await _take(other, 1)])
        counts = dict(feed.counts, reads=feed.counts["reads"] - reads_before)
        await feed.close()
        return got, counts

    got, counts = asyncio.run(scenario())
    assert got[:-1] == [["一", "二", "三"]] * 50
    assert got[-1] == ["别处"]
    assert counts["delivered"] == 50 * 3 + 1
    # reads follow time, not subscribers: 51 streams polling alone would have read ≥ 51 times
    assert counts["reads"] < 51


def test_a_subscriber_too_slow_is_ended_with_its_queue_freed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_feed, "QUEUE_LIMIT", 3)

    async def scenario() -> tuple[bool, int, bool, int]:
        feed = OutboxFeed(db, poll_seconds=0.05)
        slow = await feed.subscribe(lambda n: True)
        quick = await feed.subscribe(lambda n: True)
        got: list[NotificationView] = []
        for i in range(5):  # the quick one takes each row as it comes; the slow one never
            await asyncio.to_thread(_write, db, f"#{i}")
            got += await _take(quick, 1)
        await feed.close()
        return slow.overflowed, len(slow.queue), await slow.next(0) is None, len(got)

    overflowed, queued, ended, quick_got = asyncio.run(scenario())
    assert overflowed and queued == 0 and ended
    assert quick_got == 5


# PostgreSQL only, not a skip on SQLite: SQLite has one writer at a time, so its rows commit in
# id order and there is nothing out of order to show
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_row_committed_after_a_later_one_is_streamed_first_and_once(db: Database) -> None:
    """Two writers: A draws id n and stays open, B draws n+1 and commits. The feed holds n+1
    until A commits, then hands out n, n+1 in order; a rolled back A leaves a hole passed over."""

    async def scenario() -> tuple[list[str], list[str], list[str], int]:
        feed = OutboxFeed(db, poll_seconds=0.05)
        sub = await feed.subscribe(lambda n: True)
        for outcome in ("commit", "rollback"):
            with db.sessions() as a:
                a.begin()
                notify(a, site_id="s1", topic="work_order.created", message=f"A-{outcome}", at=AT)
                await asyncio.to_thread(a.flush)  # the id is drawn now
                await asyncio.to_thread(_write, db, f"B-{outcome}")
                held = await _take(sub, 1, seconds=0.6)
                assert held == [], "a later row went out while an earlier one could still come"
                await asyncio.to_thread(a.commit if outcome == "commit" else a.rollback)
            if outcome == "commit":
                first = [n.message for n in await _take(sub, 2)]
            else:
                second = [n.message for n in await _take(sub, 1)]
        await asyncio.to_thread(_write, db, "C")
        third = [n.message for n in await _take(sub, 1)]
        extra = len(await _take(sub, 1, seconds=0.3))
        await feed.close()
        return first, second, third, extra

    first, second, third, extra = asyncio.run(scenario())
    assert first == ["A-commit", "B-commit"]
    assert second == ["B-rollback"]
    assert third == ["C"] and extra == 0


def test_a_feed_closed_as_rows_arrive_stops(db: Database) -> None:
    """Closing races the wake-ups of new rows (NOTIFY, on PostgreSQL) and of polls: whichever
    comes first, the feed stops and ends its subscribers. (On Python 3.11 `asyncio.wait_for`
    swallows a cancellation that comes with a wake-up, and the feed then ran on after close,
    holding `close()` for ever; the race is narrow, so this test meets it only sometimes.)"""
    writing = threading.Event()

    def writer() -> None:
        while writing.is_set():
            _write(db, "行")

    async def scenario() -> list[bool]:
        stopped = []
        writing.set()
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            for i in range(40):
                feed = OutboxFeed(db, poll_seconds=0.005)
                sub = await feed.subscribe(lambda n: True)
                await asyncio.sleep(0.01 + (i % 7) * 0.003)  # close at various points
                try:
                    async with asyncio.timeout(10):
                        await feed.close()
                    stopped.append(sub.overflowed)  # ended: the stream resumes elsewhere
                except TimeoutError:
                    stopped.append(False)
        finally:
            writing.clear()
            await asyncio.to_thread(thread.join)
        return stopped

    assert asyncio.run(scenario()) == [True] * 40
