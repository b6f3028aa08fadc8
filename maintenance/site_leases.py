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
ahead; a dead replica's leases lapse after `ttl` and a live replica's next balance takes them.

Replicas see each other through heartbeats (`maintenance_replica`, same `ttl`) in their pool (the
replicas serving the same sites: a folder's, or one site file's). Each takes its fair share of
the sites (sorted replica ids; the first `n mod r` replicas take one more) and
releases any extra, so a replica that joins gets work at its next balance after the others'.
Which sites a replica prefers is rendezvous hashing of (replica, site): the same replica ids get
the same sites back after a restart, and a departure moves only the departed replica's sites.

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
        return list(
            s.scalars(
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


class SiteLeases:
    """The leases of one replica: balanced against the live replicas, renewed, released."""

    def __init__(
        self, db: Database, clock: Clock, replica_id: str, ttl: float, pool: str = "sites"
    ) -> None:
        self.db, self.clock, self.replica_id, self.pool = db, clock, replica_id, pool
        self.ttl = timedelta(seconds=ttl)
        self.held: frozenset[str] = frozenset()
        self.balances = 0
        self.takeovers = (
            0  # sites gained whose lease another replica held last (released or lapsed)
        )

    def balance(self, site_ids: Collection[str]) -> Balance:
        """Heartbeat, renew what is held, release what is above the fair share or no longer a
        site, and claim free sites up to it. Blocking (database): run it in a thread."""
        now = self.clock.now()
        me = self.replica_id
        wanted = set(site_ids)
        replicas = heartbeat(self.db, me, self.pool, now, self.ttl)
        share = fair_share(len(wanted), replicas, me)
        with self.db.session() as s:
            leases = holders(s, wanted)
        mine = {sid for sid, lease in leases.items() if lease.holder == me}
        release(self.db, self.held - wanted, me, now)
        held = renew(self.db, mine, me, now + self.ttl)
        if len(held) > share:
            extra = sorted(held, key=lambda sid: preference(me, sid))[: len(held) - share]
            release(self.db, extra, me, now)
            held -= set(extra)
        elif len(held) < share:
            free = [sid for sid in wanted - held if sid not in leases or leases[sid].until <= now]
            for sid in sorted(free, key=lambda sid: preference(me, sid), reverse=True):
                if len(held) >= share:
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
        before = self.held
        self.held = frozenset(held)
        self.balances += 1
        return Balance(self.held, self.held - before, before - self.held, len(replicas), share)

    def release_all(self) -> None:
        """A clean stop: every lease let go, the heartbeat removed. Blocking."""
        release(self.db, self.held, self.replica_id, self.clock.now())
        leave(self.db, self.replica_id)
        self.held = frozenset()
