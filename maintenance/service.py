"""The maintenance supervisor of one replica, for every site of its site directory: migrations,
registry sync, one event consumer, and the periodic passes (保养计划, 夜间照明, 超时升级, 通知).

Every replica consumes the events of every site over ONE MQTT connection (a shared
subscription splits them between replicas). The periodic passes of a site run on the replica
that holds the site's lease (`maintenance.site_leases`): replicas split the sites, and today's
unique keys still make an overlap harmless. The lease loop balances three times per pass
interval and, between balances, checks every `membership_check_period` (2 s at the default 60 s
interval) whether the pool's replicas changed, balancing at once when they did: a replica that
joins has its share within about two checks, and a dead replica's sites are taken over about
one check after its heartbeat lapses (two thirds of an interval), within one pass interval. A
replica below its share balances at each check until it has it (for at most one lease ttl). A
site let go has its work stopped before its lease is released, and a pass never runs while its
site's lease is being balanced, so no site is run by two replicas at once. Sites added, changed
or removed while running (`SiteDirectory.on_change`) take effect at once: the registry is synced
before the consumer applies a new site's events, and a removed site's passes stop.

Passes of the sites this replica holds, each site every `pass_interval` seconds of the clock:
the plan pass (plans, warranty reminders, night lighting: `PlanScheduler.run_pass`) and the
escalation ladder; the site's notification dispatcher runs while the site is held. Notices and
the daily stocktake are computed when read (API), so they need no pass.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from maintenance.commands.dispatch import CommandDispatcher
from maintenance.consumer import EventConsumer
from maintenance.db import Database
from maintenance.escalation import escalate_overdue
from maintenance.notify.dispatcher import NotificationDispatcher, start_cursor
from maintenance.quality.escalation import escalate_overdue_rectifications
from maintenance.registry.service import sync_registry
from maintenance.residents.service import erase_expired_phones
from maintenance.scheduler import PLAN_INTERVAL, PlanScheduler, SchedulerStats
from maintenance.site_leases import SiteLeases
from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site
from propwatch.site_directory import SiteDirectory

log = logging.getLogger(__name__)

PASS_INTERVAL = PLAN_INTERVAL
"""Seconds between a site's passes: an occurrence is created, a rung fires, at most this late;
and a dead replica's sites are taken over within this long."""

NOTIFY_COUNTERS = (
    "notifications_routed",
    "notifications_sent",
    "notification_failed_attempts",
    "notifications_given_up",
    "notification_errors",
    "notification_channels_off",
)

LEASES_PER_PASS = 3
"""Lease balances per pass interval. A lease lasts two of them, so a dead replica's lease
lapses at most two thirds of an interval after its last renewal and a live replica takes it over
at its next membership check (the heartbeat lapses with it), or at the latest at its next
balance, a third later: within one interval."""

MEMBERSHIP_CHECKS_PER_PASS = 30
"""Membership checks per pass interval (every 2 s at the default 60 s): one small SELECT of the
pool's heartbeats each, so two replicas add one query a second whatever the number of sites."""

MIN_MEMBERSHIP_CHECK = 1.0
"""Clock seconds: the shortest period between membership checks, whatever the pass interval."""


def membership_check_period(pass_interval: float) -> float:
    """Seconds between a replica's membership checks (and its retries while below its share)."""
    return max(MIN_MEMBERSHIP_CHECK, pass_interval / MEMBERSHIP_CHECKS_PER_PASS)


def generated_replica_id() -> str:
    """A replica id for a replica started without `PROPWATCH_INSTANCE_ID`: host, process and a
    random part (a restarted process is a new replica; its old leases lapse)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class SiteWork:
    """The periodic work of one site this replica holds."""

    site: Site
    plans: PlanScheduler
    notifier: NotificationDispatcher
    due: float = 0.0  # clock.monotonic() of its next pass; 0: at once (just gained)


@dataclass
class PassCounts:
    """What the passes of this replica did, across its sites."""

    site_passes: int = 0
    escalations_fired: int = 0
    sla_passes: int = 0
    sla_errors: int = 0
    phones_erased: int = 0  # 报修人电话 erased after the retention (maintenance.residents)
    erase_errors: int = 0
    plans: SchedulerStats = field(default_factory=SchedulerStats)


class MaintenanceService:
    def __init__(
        self,
        sites: SiteDirectory,
        settings: Settings,
        clock: Clock,
        mqtt_url: str,
        db: Database | None = None,
        *,
        pass_interval: float = PASS_INTERVAL,
    ) -> None:
        self.directory = sites
        self.clock = clock
        self.db = db or Database.from_settings(settings)
        self.pass_interval = pass_interval
        # 个人信息保护法: reporters' phones go this long after their order closed
        self.phone_retention = timedelta(days=settings.resident_phone_retention_days)
        # One site file: its own topics and session, as before the directory (a broker may carry
        # other sites served elsewhere). A folder: every site's topics.
        scope = next(iter(sites.sites)) if sites.single_file and sites.sites else None
        instance = settings.instance_id
        self.replica_id = (instance or generated_replica_id()) + (f"@{scope}" if scope else "")
        client_id = "propwatch-maintenance" + (f"-{scope}" if scope else "")
        self.mqtt = MqttConnection(
            mqtt_url,
            client_id + (f"-{instance}" if instance else ""),
            clean_start=False,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            # acknowledged by the consumer once what a message carried is committed
            manual_ack=True,
        )
        # The sites whose registry is synced: what the consumer applies events to. Replaced,
        # never mutated (the consumer reads it from a worker thread).
        self.sites: Mapping[str, Site] = {}
        self._pending: Mapping[str, Site] | None = dict(sites.sites)
        self.consumer = EventConsumer(
            lambda: self.sites,
            self.db,
            self.mqtt,
            clock,
            scope=scope,
            shared_group=settings.mqtt_shared_group,
            late_after=timedelta(seconds=settings.late_event_after),
            capacity=settings.maintenance_queue_capacity,
        )
        # 遥控: commands the API kept, sent to the gateways on this connection
        self.commands = CommandDispatcher(self.db, self.mqtt, clock, lambda: self.sites)
        self.leases = SiteLeases(
            self.db,
            clock,
            self.replica_id,
            ttl=2 * pass_interval / LEASES_PER_PASS,
            pool=f"site:{scope}" if scope else "sites",
        )
        self.secrets = {name: v.get_secret_value() for name, v in settings.notify_secrets.items()}
        self.work: dict[str, SiteWork] = {}
        self.counts = PassCounts()
        self.lease_errors = 0
        self.lease_checks = 0  # turns of the lease loop: a membership check, or a balance
        self.pass_errors = 0
        # notification counters of the dispatchers of sites no longer held
        self._notified: dict[str, int] = dict.fromkeys(NOTIFY_COUNTERS, 0)
        self.sync_errors = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rebalance = asyncio.Event()
        self._passes_due = asyncio.Event()
        # held by a balance and by each site's pass: a pass never overlaps its site's release
        self._turn = asyncio.Lock()
        sites.on_change(self._sites_changed)

    async def __aenter__(self) -> MaintenanceService:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.db.upgrade)
        # Registries and notification cursors of every site before the first event is applied.
        await asyncio.to_thread(self._sync_pending)
        self.consumer.start()
        self.mqtt.start()
        try:
            await self.mqtt.wait_connected()
            self._tasks.append(asyncio.create_task(self.consumer.run(), name="event-consumer"))
            self._tasks.append(asyncio.create_task(self.commands.run(), name="commands"))
            # Claim this replica's share and catch up (missed occurrences, marked late).
            await self._balance()
            await self._run_due()
            self._tasks.append(asyncio.create_task(self._lease_loop(), name="site-leases"))
            self._tasks.append(asyncio.create_task(self._pass_loop(), name="site-passes"))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        # The event being applied commits and is acknowledged; every other one the consumer
        # holds stays unacknowledged in the broker's session, for the next start.
        await self.consumer.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for site_id in list(self.work):
            await self._drop(site_id)
        # paho sends the acknowledgements already queued before its DISCONNECT
        await asyncio.to_thread(self.mqtt.stop)
        try:
            # the other replicas take these sites at their next balance, not after the ttl
            await asyncio.to_thread(self.leases.release_all)
        except SQLAlchemyError:
            log.warning("site leases not released; they lapse after %s", self.leases.ttl)

    # --- sites --------------------------------------------------------------------------------

    def _sites_changed(self, sites: Mapping[str, Site]) -> None:
        """From the rescanning thread: note the new snapshot; the lease loop syncs it."""
        self._pending = sites
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._rebalance.set)

    def _sync_pending(self) -> None:
        """Sync the registry and notification cursor of each new or changed site, then serve
        the new snapshot. Blocking. A site whose sync fails is retried at the next balance
        (it keeps its previous version meanwhile, or is not served yet)."""
        pending = self._pending
        if pending is None:
            return
        synced = dict(self.sites)
        failed = False
        for site_id, site in pending.items():
            if synced.get(site_id) is site:
                continue
            try:
                self.load_registry(site)
                start_cursor(self.db, site_id, self.clock.now())
            except SQLAlchemyError:
                self.sync_errors += 1
                failed = True
                log.exception("site %s not synced; retried at the next balance", site_id)
                continue
            synced[site_id] = site
        for gone in [sid for sid in synced if sid not in pending]:
            del synced[gone]
            log.info("site %s is no longer served", gone)
        self.sites = synced
        if not failed and self._pending is pending:
            self._pending = None

    def load_registry(self, site: Site) -> None:
        """Upsert the site file into the registry. Replicas starting together may insert the
        same new rows; the loser of that race finds them on its second try."""
        try:
            with self.db.session() as s:
                sync_registry(s, site, self.clock.now())
        except IntegrityError:
            with self.db.session() as s:
                sync_registry(s, site, self.clock.now())

    # --- leases -------------------------------------------------------------------------------

    async def _balance(self) -> None:
        """Sync changed sites, balance the leases, and start or stop the held sites' work. The
        work of a site let go stops before its lease is released (`SiteLeases.survey`, then
        `settle`), and no pass runs meanwhile."""
        await asyncio.to_thread(self._sync_pending)
        async with self._turn:
            survey = await asyncio.to_thread(self.leases.survey, list(self.sites))
            for site_id in survey.before - survey.kept:
                if site_id in self.work:
                    log.info("site %s is no longer run by replica %s", site_id, self.replica_id)
                    await self._drop(site_id)
            balance = await asyncio.to_thread(self.leases.settle, survey)
        for site_id in list(self.work):
            work = self.work[site_id]
            if site_id in balance.held and self.sites.get(site_id) is not work.site:
                await self._drop(site_id)  # its file changed: start it again on the new version
        gained = False
        for site_id in sorted(balance.held):
            if site_id not in self.work:
                await self._take(self.sites[site_id])
                gained = True
        if gained:
            self._passes_due.set()

    async def _take(self, site: Site) -> None:
        notifier = NotificationDispatcher(site, self.db, self.clock, self.secrets)
        await notifier.__aenter__()
        self.work[site.id] = SiteWork(site, PlanScheduler(site, self.db, self.clock), notifier)
        log.info("site %s is run by replica %s", site.id, self.replica_id)

    async def _drop(self, site_id: str) -> None:
        work = self.work.pop(site_id)
        await work.notifier.__aexit__(None, None, None)
        for name, value in work.notifier.health().items():
            if name != "notification_channels_off":  # a gauge of the sites held now
                self._notified[name] = self._notified.get(name, 0) + value

    async def _lease_loop(self) -> None:
        """Every check period: balance when the sites changed, a balance is due, this replica
        is below its share, or the pool's replicas changed; otherwise nothing."""
        every = self.pass_interval / LEASES_PER_PASS
        check = membership_check_period(self.pass_interval)
        last = self.clock.monotonic()
        while True:
            sleeper = asyncio.ensure_future(self.clock.sleep(min(check, every)))
            woken = asyncio.ensure_future(self._rebalance.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()
            try:
                # a balance due within half a check is done now rather than a check late
                due = self.clock.monotonic() - last >= every - min(check, every) / 2
                if self._rebalance.is_set() or due or self.leases.wants_more():
                    balance = True
                else:
                    balance = await asyncio.to_thread(self.leases.members_changed)
                    if balance:
                        log.info("the replicas of pool %s changed: balancing", self.leases.pool)
                if balance:
                    self._rebalance.clear()
                    last = self.clock.monotonic()
                    await self._balance()
            except Exception:  # counted; the next check tries again
                # The database may be restarting: the leases lapse if it stays away, and
                # whichever replica reaches it first takes the sites.
                self.lease_errors += 1
                log.exception("site lease balance failed")
            self.lease_checks += 1

    # --- passes -------------------------------------------------------------------------------

    def run_site_pass(self, work: SiteWork) -> None:
        """One pass of one site: plans and night lighting, then the escalation ladder, each in
        its own transactions so one failing keeps the other. Blocking."""
        done = work.plans.run_pass()
        for name in vars(done):
            setattr(self.counts.plans, name, getattr(self.counts.plans, name) + getattr(done, name))
        try:
            self.check_time_limits(work.site)
        except Exception:  # counted in sla_errors; the next pass tries again
            # The database may be restarting, or a bug: the other sites' passes go on.
            self.counts.sla_errors += 1
            log.exception("time-limit check of site %s failed", work.site.id)
        try:
            with self.db.session() as s:
                self.counts.phones_erased += erase_expired_phones(
                    s, work.site.id, self.clock.now(), self.phone_retention
                )
        except Exception:  # counted; the next pass tries again
            self.counts.erase_errors += 1
            log.exception("erasing expired reporter phones of site %s failed", work.site.id)
        self.counts.site_passes += 1

    def check_time_limits(self, site: Site) -> int:
        """超时升级: one pass of the escalation ladder over the site's work orders, then over its
        open rectifications."""
        with self.db.session() as s:
            fired = len(escalate_overdue(s, site.spec, self.clock.now(), site.id))
        with self.db.session() as s:  # 整改督促: its own transaction, like each pass
            fired += len(escalate_overdue_rectifications(s, site.spec, self.clock.now(), site.id))
        self.counts.escalations_fired += fired
        self.counts.sla_passes += 1
        return fired

    async def _run_due(self, every: bool = False) -> None:
        """Run the pass of each held site that is due (or of every held site)."""
        for site_id in sorted(self.work):
            async with self._turn:
                work = self.work.get(site_id)
                if work is None or site_id not in self.leases.held:
                    continue  # dropped while an earlier site ran
                if every or work.due <= self.clock.monotonic():
                    work.due = self.clock.monotonic() + self.pass_interval
                    await asyncio.to_thread(self.run_site_pass, work)

    async def run_passes(self) -> None:
        """A balance and one pass of every site held, now (catch up after moving a clock)."""
        await self._balance()
        await self._run_due(every=True)

    async def _pass_loop(self) -> None:
        while True:
            now = self.clock.monotonic()
            wait = min((w.due for w in self.work.values()), default=now + self.pass_interval)
            sleeper = asyncio.ensure_future(self.clock.sleep(max(wait - now, 0.0)))
            woken = asyncio.ensure_future(self._passes_due.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()
            self._passes_due.clear()
            try:
                await self._run_due()
            except Exception:  # counted; the sites still due run on the next turn
                self.pass_errors += 1
                log.exception("site passes failed")

    # --- health -------------------------------------------------------------------------------

    @property
    def escalations_fired(self) -> int:
        return self.counts.escalations_fired

    @property
    def sla_passes(self) -> int:
        return self.counts.sla_passes

    def health(self) -> dict[str, Any]:
        plans = self.counts.plans
        notify = dict(self._notified)
        for work in self.work.values():
            for name, value in work.notifier.health().items():
                notify[name] = notify.get(name, 0) + value
        return {
            "replica_id": self.replica_id,
            "mqtt_connected": self.mqtt.connected.is_set(),
            "sites_served": len(self.sites),
            "sites_held": len(self.leases.held),
            "sites_taken_over": self.leases.takeovers,
            "site_passes": self.counts.site_passes,
            "lease_errors": self.lease_errors,
            "pass_errors": self.pass_errors,
            "site_sync_errors": self.sync_errors,
            "events_applied": self.consumer.applied,
            "events_duplicate": self.consumer.duplicates,
            "events_rejected": self.consumer.rejected,
            "events_unknown_site": self.consumer.unknown_site,
            "events_failed": self.consumer.failed,
            "events_dead_letters": self.consumer.dead_letters,
            "events_unsettled": self.consumer.unsettled,
            "events_refused_full": self.consumer.refused,
            "database_retries": self.consumer.db_retries,
            "commands_sent": self.commands.sent,
            "commands_expired": self.commands.expired,
            "queue_depth": self.consumer.queue.qsize(),
            "events_held": self.consumer.held,
            "escalations_fired": self.counts.escalations_fired,
            "sla_errors": self.counts.sla_errors,
            "plan_passes": plans.passes,
            "plan_work_orders": plans.created,
            "plan_late": plans.late,
            "plan_errors": plans.errors,
            "night_patrols": plans.patrols,
            "phones_erased": self.counts.phones_erased,
            "phone_erase_errors": self.counts.erase_errors,
            "lighting_commands": plans.lighting_commands,
            "lighting_missed": plans.lighting_missed,
            **notify,
        }
