"""Site leases on SQLite and PostgreSQL: one winner of a race, expiry, takeover, fair shares."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import select

from maintenance.db import Database
from maintenance.site_leases import SiteLease, SiteLeases, claim, fair_share
from propwatch.clock import ManualClock

TTL = timedelta(seconds=40)


def _race(racers: list[Callable[[], bool]]) -> list[bool]:
    """Run the racers in threads released together; their results in order."""
    start = threading.Barrier(len(racers))
    results: list[bool | BaseException] = [False] * len(racers)

    def run(i: int) -> None:
        start.wait(10)
        try:
            results[i] = racers[i]()
        except BaseException as exc:  # surfaced below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(racers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    return [bool(r) for r in results]


def _holder(db: Database, site_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(SiteLease.holder).where(SiteLease.site_id == site_id))


def test_of_two_replicas_claiming_a_new_site_at_once_exactly_one_wins(
    db: Database, clock: ManualClock
) -> None:
    now = clock.now()
    for n in range(10):
        site = f"race-{n}"
        won = _race([partial(claim, db, site, r, now, TTL) for r in ("a", "b", "c")])
        assert won.count(True) == 1, won
        assert _holder(db, site) == "abc"[won.index(True)]


def test_of_two_replicas_taking_over_a_lapsed_lease_exactly_one_wins(
    db: Database, clock: ManualClock
) -> None:
    for n in range(10):
        site = f"lapsed-{n}"
        assert claim(db, site, "dead", clock.now(), TTL)
        clock.advance(TTL)  # lapsed exactly now: `until <= now`
        now = clock.now()
        won = _race([partial(claim, db, site, r, now, TTL) for r in ("a", "b")])
        assert won.count(True) == 1, won
        assert _holder(db, site) == "ab"[won.index(True)]


def test_a_held_lease_is_renewed_by_its_holder_and_refused_to_others_until_it_lapses(
    db: Database, clock: ManualClock
) -> None:
    assert claim(db, "s", "a", clock.now(), TTL)
    clock.advance(30)
    assert not claim(db, "s", "b", clock.now(), TTL)
    assert claim(db, "s", "a", clock.now(), TTL)  # renewed: until now + 40 s
    clock.advance(30)  # 60 s after the first claim, 30 s after the renewal
    assert not claim(db, "s", "b", clock.now(), TTL)
    clock.advance(10)
    assert claim(db, "s", "b", clock.now(), TTL)
    assert _holder(db, "s") == "b"
    assert not claim(db, "s", "a", clock.now(), TTL)


def test_fair_shares_add_up_to_the_sites_and_differ_by_at_most_one() -> None:
    replicas = ["r1", "r2", "r3"]
    for sites in range(10):
        shares = [fair_share(sites, replicas, r) for r in replicas]
        assert sum(shares) == sites and max(shares) - min(shares) <= 1
    assert fair_share(3, [], "alone") == 3


def test_two_replicas_split_three_sites_and_a_dead_ones_are_taken_over_after_the_ttl(
    db: Database, clock: ManualClock
) -> None:
    sites = ["north", "south", "east"]
    a = SiteLeases(db, clock, "replica-a", TTL.total_seconds())
    b = SiteLeases(db, clock, "replica-b", TTL.total_seconds())
    assert a.balance(sites).held == set(sites)  # alone at first: every site
    assert b.balance(sites).held == set()  # all held; a is above its share now
    first = a.balance(sites)
    assert (first.replicas, first.share, len(first.lost)) == (2, 2, 1)
    second = b.balance(sites)
    assert second.gained == first.lost and b.held == first.lost
    assert a.held | b.held == set(sites) and not a.held & b.held

    clock.advance(20)  # b keeps renewing; a has died
    b.balance(sites)
    clock.advance(15)  # a's leases and heartbeat are 35 s old: not lapsed yet
    assert b.balance(sites).held == first.lost
    clock.advance(5)
    taken = b.balance(sites)
    assert taken.held == set(sites) and taken.gained == a.held and taken.replicas == 1
    assert b.takeovers == 3  # the one a released, then the two that lapsed


def test_a_replica_that_stops_cleanly_lets_its_sites_go_at_once(
    db: Database, clock: ManualClock
) -> None:
    sites = ["north", "south", "east"]
    a = SiteLeases(db, clock, "replica-a", TTL.total_seconds())
    b = SiteLeases(db, clock, "replica-b", TTL.total_seconds())
    a.balance(sites)
    b.balance(sites)
    a.balance(sites)
    b.balance(sites)
    a.release_all()
    assert b.balance(sites).held == set(sites)


def test_a_removed_site_is_released_and_a_restarted_replica_gets_its_sites_back(
    db: Database, clock: ManualClock
) -> None:
    sites = ["north", "south", "east", "west"]
    a = SiteLeases(db, clock, "replica-a", TTL.total_seconds())
    b = SiteLeases(db, clock, "replica-b", TTL.total_seconds())
    for _ in range(2):
        a.balance(sites)
        b.balance(sites)
    assert len(a.held) == len(b.held) == 2
    mine = a.held
    gone = sorted(mine)[0]
    a.balance([s for s in sites if s != gone])
    assert gone not in a.held
    assert b.balance(sites).held == b.held  # b is at its share; the removed site is free
    assert _holder(db, gone) == "replica-a"  # released, not handed over: until is now
    again = SiteLeases(db, clock, "replica-a", TTL.total_seconds())
    assert again.balance(sites).held == mine  # same id after a restart: the same sites


CHECK = 2.0  # seconds of the clock between two membership checks


def _check(leases: SiteLeases, sites: list[str]) -> bool:
    """One turn of a replica's lease loop between full balances: balance if it is below its
    share or the pool changed. Whether it balanced."""
    if leases.wants_more() or leases.members_changed():
        leases.balance(sites)
        return True
    return False


def _disjoint(db: Database, clock: ManualClock, *replicas: SiteLeases) -> None:
    """No site held by two replicas, and each one's sites leased to it in the database."""
    held = [r.held for r in replicas]
    assert sum(len(h) for h in held) == len(frozenset().union(*held))
    with db.session() as s:
        live = {
            lease.site_id: lease.holder
            for lease in s.scalars(select(SiteLease).where(SiteLease.until > clock.now()))
        }
    for r in replicas:
        assert all(live.get(sid) == r.replica_id for sid in r.held)


def test_a_joining_replica_gets_its_share_within_two_membership_checks(
    db: Database, clock: ManualClock
) -> None:
    sites = [f"site-{n:03}" for n in range(20)]
    a = SiteLeases(db, clock, "replica-a", TTL.total_seconds())
    b = SiteLeases(db, clock, "replica-b", TTL.total_seconds())
    assert a.balance(sites).held == set(sites)
    clock.advance(CHECK)
    assert not _check(a, sites)  # alone and at its share: a check, no balance
    assert a.balances == 1

    joined = clock.monotonic()
    assert b.balance(sites).held == set()  # every site is a's until a sees b
    assert b.wants_more()
    _disjoint(db, clock, a, b)
    while len(b.held) < 10:
        clock.advance(CHECK)
        # b first: its retry comes before a has released anything, the slower order
        for replica in (b, a):
            _check(replica, sites)
            _disjoint(db, clock, a, b)
        assert clock.monotonic() - joined <= 2 * CHECK, "b short of its share"
    assert len(a.held) == 10 and a.held | b.held == set(sites)
    assert not b.wants_more()
    balances = (a.balances, b.balances)
    clock.advance(CHECK)
    assert not _check(a, sites) and not _check(b, sites)
    assert (a.balances, b.balances) == balances  # settled: checks only


def test_a_replica_whose_sites_are_kept_from_it_stops_retrying_after_one_ttl(
    db: Database, clock: ManualClock
) -> None:
    sites = ["north", "south"]
    # a replica of another pool (another view of the sites) keeps renewing them
    other = SiteLeases(db, clock, "replica-x", TTL.total_seconds(), pool="elsewhere")
    other.balance(sites)
    b = SiteLeases(db, clock, "replica-b", TTL.total_seconds())
    assert b.balance(sites).held == set()
    retries = 0
    for _ in range(30):  # 60 s of checks (its own heartbeat, renewed at 40 s, still live)
        clock.advance(CHECK)
        other.balance(sites)
        retries += _check(b, sites)
    assert b.held == set()
    assert retries == TTL.total_seconds() / CHECK  # one ttl of retries, then none


def test_a_dead_replicas_sites_are_taken_over_at_the_first_check_after_its_heartbeat_lapses(
    db: Database, clock: ManualClock
) -> None:
    sites = ["north", "south", "east", "west"]
    a = SiteLeases(db, clock, "replica-a", TTL.total_seconds())
    b = SiteLeases(db, clock, "replica-b", TTL.total_seconds())
    for _ in range(2):
        a.balance(sites)
        b.balance(sites)
    assert len(b.held) == 2
    died = clock.now()  # a renewed its leases and heartbeat last now
    while b.held != set(sites):
        clock.advance(CHECK)
        _check(b, sites)
        assert clock.now() - died <= TTL + timedelta(seconds=CHECK)
    assert clock.now() - died == TTL  # its heartbeat and leases lapse together
