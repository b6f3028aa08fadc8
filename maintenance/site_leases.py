"""站点租约 (site leases): which maintenance replica runs each site's periodic passes.

Every replica consumes events of every site (the shared subscription splits them), but the
periodic passes of a site (plans and night lighting, escalation, notification dispatch) run on
the one replica that holds its lease: replicas split the sites between them and a pass is not
run twice at once. The unique keys (occurrence, rung, delivery) still make an overlap harmless;
the lease makes it rare and spreads the work.

A lease is a row `site_lease(site_id, holder, until)`. It is claimed with one conditional UPDATE
(the holder is this replica, or the lease has lapsed) or, for a site never leased, an INSERT the
primary key refuses to the second of two replicas: atomic on SQLite (one writer at a time) and on
PostgreSQL (the UPDATE re-checks its WHERE on the row it locked). The holder renews it to `ttl`
ahead; a dead replica's leases lapse after `ttl`.

Replicas see each other through heartbeats (`maintenance_replica`, same `ttl`) in their pool (the
replicas serving the same sites: a folder's, or one site file's). Each takes its fair share of
the sites (sorted replica ids; the first `n mod r` replicas take one more) and releases any
extra. A balance is a few statements per replica plus one per site claimed, so it runs only a
few times per `ttl`; between balances a replica asks the cheap question `members_changed` (one
SELECT of the pool's live heartbeats) every few seconds and balances at once when a replica
joined, left cleanly or lapsed. One below its share after a balance (its sites are still held by
a replica that has not released them yet) balances again at each check while `wants_more`, for
at most one `ttl`: by then the holder has released them or they have lapsed. So a replica that
joins has its share within about two checks, and a dead replica's sites are taken over about one
check after its heartbeat lapses. Which sites a replica prefers is rendezvous hashing of
(replica, site): the same replica ids get the same sites back after a restart, and a departure
moves only the departed replica's sites.

A site is let go in two steps (`survey`, then `settle`): it leaves `held` first, the caller
stops its work, and only then is its lease released for another replica to claim, so no site is
run by two replicas at once.

Time is the injected clock's; replicas on several machines need clocks closer than `ttl` minus
the renew period (NTP does far better).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from maintenance.db import Base, Database, UtcDateTime
from propwatch.clock import Clock

log = logging.getLogger(__name__)


class SiteLease(Base):
    """One site's lease: the replica that runs its periodic passes, until when."""

    __tablename__ = "site_lease"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime] = mapped_column(UtcDateTime)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MaintenanceReplica(Base):
    """A replica's heartbeat: it is alive (and counts in the fair share) until `until`."""

    __tablename__ = "maintenance_replica"

    replica_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # the replicas that share the same sites: "sites" for a folder, "site:<id>" for one file
    pool: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime] = mapped_column(UtcDateTime)


def claim(db: Database, site_id: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease of `site_id` for `holder` until `now + ttl`; False when another
    replica holds it and it has not lapsed. Of two replicas racing, exactly one wins."""
    until = now + ttl
    with db.session() as s:
        taken = s.execute(
            update(SiteLease)
            .where(
                SiteLease.site_id == site_id,
                or_(SiteLease.holder == holder, SiteLease.until <= now),
            )
            .values(
                holder=holder,
                until=until,
                acquired_at=case((SiteLease.holder == holder, SiteLease.acquired_at), else_=now),
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return True
    try:
        with db.session() as s:
            s.add(SiteLease(site_id=site_id, holder=holder, until=until, acquired_at=now))
    except IntegrityError:
        return False  # the row exists: another replica holds it (or won the first insert)
    return True


def renew(db: Database, site_ids: Collection[str], holder: str, until: datetime) -> set[str]:
    """Extend the leases `holder` still has among `site_ids`; the ones it lost are left out."""
    if not site_ids:
        return set()
    with db.session() as s:
        return set(
            s.scalars(
                update(SiteLease)
                .where(SiteLease.holder == holder, SiteLease.site_id.in_(list(site_ids)))
                .values(until=until)
                .returning(SiteLease.site_id)
                .execution_options(synchronize_session=False)
            )
        )


def release(db: Database, site_ids: Collection[str], holder: str, now: datetime) -> None:
    """Let the leases go at once (a clean stop, a site removed or above the fair share), so
    another replica takes them at its next balance instead of after `ttl`."""
    if not site_ids:
        return
    with db.session() as s:
        s.execute(
            update(SiteLease)
            .where(SiteLease.holder == holder, SiteLease.site_id.in_(list(site_ids)))
            .values(until=now)
            .execution_options(synchronize_session=False)
        )


def heartbeat(db: Database, replica_id: str, pool: str, now: datetime, ttl: timedelta) -> list[str]:
    """Say this replica is alive until `now + ttl`; returns the pool's live replicas, sorted."""
    until = now + ttl
    with db.session() as s:
        done = s.execute(
            update(MaintenanceReplica)
            .where(MaintenanceReplica.replica_id == replica_id)
            .values(until=until, pool=pool)
            .execution_options(synchronize_session=False)
        )
        fresh = done.rowcount == 0  # type: ignore[attr-defined]
    if fresh:
        try:
            with db.session() as s:
                s.add(
                    MaintenanceReplica(
                        replica_id=replica_id, pool=pool, started_at=now, until=until
                    )
                )
        except IntegrityError:
            pass  # the same id started twice at once; the row is there either way
    with db.session() as s:
        # long-gone replicas are forgotten, so the table stays as small as the deployment
        s.execute(delete(MaintenanceReplica).where(MaintenanceReplica.until < now - 10 * ttl))
        return live_replicas(s, pool, now)


def live_replicas(session: Session, pool: str, now: datetime) -> list[str]:
    """The pool's replicas whose heartbeat has not lapsed, sorted. The table has a row per
    replica of the deployment (and the recently gone), so this is one small read."""
    return list(
        session.scalars(
            select(MaintenanceReplica.replica_id)
            .where(MaintenanceReplica.pool == pool, MaintenanceReplica.until > now)
            .order_by(MaintenanceReplica.replica_id)
        )
    )


def leave(db: Database, replica_id: str) -> None:
    """A clean stop: this replica no longer counts in the others' fair share."""
    with db.session() as s:
        s.execute(delete(MaintenanceReplica).where(MaintenanceReplica.replica_id == replica_id))


def fair_share(sites: int, replicas: list[str], me: str) -> int:
    """How many of `sites` this replica should hold among the live `replicas` (sorted)."""
    if me not in replicas:
        replicas = sorted([*replicas, me])
    base, extra = divmod(sites, len(replicas))
    return base + (1 if replicas.index(me) < extra else 0)


def preference(replica_id: str, site_id: str) -> bytes:
    """Rendezvous hash: a replica prefers the sites that score highest with it."""
    return hashlib.sha256(f"{replica_id}\0{site_id}".encode()).digest()


def holders(session: Session, site_ids: Collection[str]) -> dict[str, SiteLease]:
    return {
        lease.site_id: lease
        for lease in session.scalars(select(SiteLease).where(SiteLease.site_id.in_(site_ids)))
    }


@dataclass(frozen=True)
class Balance:
    """What one balance did: the sites held after it, and what changed."""

    held: frozenset[str]
    gained: frozenset[str]
    lost: frozenset[str]  # taken over by another replica, or released
    replicas: int
    share: int


@dataclass(frozen=True)
class Survey:
    """The first half of a balance: what is held and renewed, what is to be let go."""

    wanted: frozenset[str]
    leases: dict[str, SiteLease]  # the wanted sites' lease rows, as read before any change
    replicas: tuple[str, ...]
    share: int
    before: frozenset[str]  # held before this balance
    kept: frozenset[str]  # renewed and kept
    letting_go: frozenset[str]  # still ours in the database until `settle` releases them


class SiteLeases:
    """The leases of one replica: balanced against the live replicas, renewed, released."""

    def __init__(
        self, db: Database, clock: Clock, replica_id: str, ttl: float, pool: str = "sites"
    ) -> None:
        self.db, self.clock, self.replica_id, self.pool = db, clock, replica_id, pool
        self.ttl = timedelta(seconds=ttl)
        self.held: frozenset[str] = frozenset()
        # let go by `survey`, released by `settle` (or by `release_all` if it never comes)
        self.letting_go: frozenset[str] = frozenset()
        self.balances = 0
        self.takeovers = (
            0  # sites gained whose lease another replica held last (released or lapsed)
        )
        # the live replicas the last balance shared the sites with
        self.members: tuple[str, ...] = ()
        self.balanced_at: datetime | None = None
        # when this replica fell below its fair share, None while it has it
        self.short_since: datetime | None = None

    def balance(self, site_ids: Collection[str]) -> Balance:
        """Heartbeat, renew what is held, release what is above the fair share or no longer a
        site, and claim free sites up to it. Blocking (database): run it in a thread."""
        return self.settle(self.survey(site_ids))

    def survey(self, site_ids: Collection[str]) -> Survey:
        """Heartbeat, renew what is held, and choose what to let go (above the fair share, or
        no longer a site): those leave `held` now, and stay leased to this replica until
        `settle`, so the caller stops their work before another replica can take them.
        Blocking."""
        now = self.clock.now()
        me = self.replica_id
        wanted = frozenset(site_ids)
        replicas = heartbeat(self.db, me, self.pool, now, self.ttl)
        share = fair_share(len(wanted), replicas, me)
        with self.db.session() as s:
            leases = holders(s, wanted)
        mine = {sid for sid, lease in leases.items() if lease.holder == me}
        kept = renew(self.db, mine, me, now + self.ttl)
        letting_go = self.held - wanted
        if len(kept) > share:
            extra = sorted(kept, key=lambda sid: preference(me, sid))[: len(kept) - share]
            letting_go |= set(extra)
            kept -= set(extra)
        before = self.held
        self.held = frozenset(kept)
        self.letting_go = frozenset(letting_go)
        return Survey(
            wanted, leases, tuple(replicas), share, before, self.held, frozenset(letting_go)
        )

    def settle(self, survey: Survey) -> Balance:
        """The second half of a balance: release what the survey let go, and claim free sites
        up to the fair share. Blocking."""
        now = self.clock.now()
        me = self.replica_id
        release(self.db, survey.letting_go, me, now)
        self.letting_go = frozenset()
        held = set(survey.kept)
        leases = survey.leases
        if len(held) < survey.share:
            free = [
                sid for sid in survey.wanted - held if sid not in leases or leases[sid].until <= now
            ]
            for sid in sorted(free, key=lambda sid: preference(me, sid), reverse=True):
                if len(held) >= survey.share:
                    break
                if claim(self.db, sid, me, now, self.ttl):
                    held.add(sid)
                    if sid in leases and leases[sid].holder != me:
                        self.takeovers += 1
                        log.info(
                            "site %s taken over from replica %s (its lease lapsed at %s)",
                            sid,
                            leases[sid].holder,
                            leases[sid].until.isoformat(),
                        )
        self.held = frozenset(held)
        self.members = survey.replicas
        self.balanced_at = now
        if len(held) >= survey.share:
            self.short_since = None
        elif self.short_since is None:
            self.short_since = now
        self.balances += 1
        before = survey.before
        return Balance(
            self.held, self.held - before, before - self.held, len(survey.replicas), survey.share
        )

    def members_changed(self) -> bool:
        """Whether the pool's live replicas differ from the ones the last balance shared the
        sites with (one joined, left cleanly, or its heartbeat lapsed): the cheap check between
        balances. Blocking (one SELECT)."""
        with self.db.session() as s:
            return tuple(live_replicas(s, self.pool, self.clock.now())) != self.members

    def wants_more(self) -> bool:
        """Below its fair share at the last balance, for less than one `ttl` so far: the sites
        it waits for are released at their holder's next check, or lapse within that, so
        balancing again soon gets them. After one `ttl` the holders keep them on purpose (they
        see other replicas or sites than this one); the regular balance settles that."""
        if self.short_since is None or self.balanced_at is None:
            return False
        return self.balanced_at < self.short_since + self.ttl

    def release_all(self) -> None:
        """A clean stop: every lease let go, the heartbeat removed. Blocking."""
        release(self.db, self.held | self.letting_go, self.replica_id, self.clock.now())
        leave(self.db, self.replica_id)
        self.held = self.letting_go = frozenset()
