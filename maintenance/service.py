"""The maintenance supervisor: migrations, registry sync, the event consumer, the SLA job, and
the plan scheduler (保养计划, 夜间照明)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from maintenance.consumer import EventConsumer
from maintenance.db import Database
from maintenance.escalation import escalate_overdue
from maintenance.notify.dispatcher import NotificationDispatcher
from maintenance.registry.service import sync_registry
from maintenance.scheduler import PlanScheduler
from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site

log = logging.getLogger(__name__)

SLA_INTERVAL = 60.0
"""Seconds between passes of the escalation ladder; a rung fires at most this late."""


class MaintenanceService:
    def __init__(
        self,
        site: Site,
        settings: Settings,
        clock: Clock,
        mqtt_url: str,
        db: Database | None = None,
    ) -> None:
        self.site = site
        self.clock = clock
        self.db = db or Database.from_settings(settings)
        self.mqtt = MqttConnection(
            mqtt_url,
            f"propwatch-maintenance-{site.id}"
            + (f"-{settings.instance_id}" if settings.instance_id else ""),
            clean_start=False,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            # acknowledged by the consumer once what a message carried is committed
            manual_ack=True,
        )
        self.consumer = EventConsumer(
            site,
            self.db,
            self.mqtt,
            clock,
            shared_group=settings.mqtt_shared_group,
            late_after=timedelta(seconds=settings.late_event_after),
            capacity=settings.maintenance_queue_capacity,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.sla_interval = SLA_INTERVAL
        self.escalations_fired = 0
        self.sla_passes = 0
        self.sla_errors = 0
        self.plans = PlanScheduler(site, self.db, clock)
        self.notifier = NotificationDispatcher(
            site,
            self.db,
            clock,
            {name: v.get_secret_value() for name, v in settings.notify_secrets.items()},
        )

    async def __aenter__(self) -> MaintenanceService:
        self.db.upgrade()
        self.load_registry()
        # before the consumer: the outbox cursor must not start past the first new event
        await self.notifier.__aenter__()
        try:
            self.consumer.start()
            self.mqtt.start()
            await self.mqtt.wait_connected()
            self._tasks.append(asyncio.create_task(self.consumer.run(), name="event-consumer"))
            self._tasks.append(asyncio.create_task(self._sla_loop(), name="sla-escalation"))
            await self.plans.start()
        except BaseException:
            await self.notifier.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.plans.stop()
        # The event being applied commits and is acknowledged; every other one the consumer
        # holds stays unacknowledged in the broker's session, for the next start.
        await self.consumer.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # paho sends the acknowledgements already queued before its DISCONNECT
        await asyncio.to_thread(self.mqtt.stop)
        await self.notifier.__aexit__(None, None, None)

    def load_registry(self) -> None:
        """Upsert the site file into the registry. Replicas starting together may insert the
        same new rows; the loser of that race finds them on its second try."""
        try:
            with self.db.session() as s:
                sync_registry(s, self.site, self.clock.now())
        except IntegrityError:
            with self.db.session() as s:
                sync_registry(s, self.site, self.clock.now())

    def check_time_limits(self) -> int:
        """超时升级: one pass of the escalation ladder over the site's work orders."""
        with self.db.session() as s:
            fired = escalate_overdue(s, self.site.spec, self.clock.now(), self.site.id)
        self.escalations_fired += len(fired)
        self.sla_passes += 1
        return len(fired)

    async def _sla_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.check_time_limits)
            except SQLAlchemyError:
                # The database may be restarting; count it and try again on the next tick.
                self.sla_errors += 1
                log.exception("time-limit check failed")
            await self.clock.sleep(self.sla_interval)

    def health(self) -> dict[str, Any]:
        return {
            "mqtt_connected": self.mqtt.connected.is_set(),
            "events_applied": self.consumer.applied,
            "events_duplicate": self.consumer.duplicates,
            "events_rejected": self.consumer.rejected,
            "events_failed": self.consumer.failed,
            "events_dead_letters": self.consumer.dead_letters,
            "events_unsettled": self.consumer.unsettled,
            "events_refused_full": self.consumer.refused,
            "database_retries": self.consumer.db_retries,
            "queue_depth": self.consumer.queue.qsize(),
            "events_held": self.consumer.held,
            "escalations_fired": self.escalations_fired,
            "sla_errors": self.sla_errors,
            "plan_passes": self.plans.stats.passes,
            "plan_work_orders": self.plans.stats.created,
            "plan_late": self.plans.stats.late,
            "plan_errors": self.plans.stats.errors,
            "night_patrols": self.plans.stats.patrols,
            **self.notifier.health(),
        }
