"""The maintenance supervisor: registry sync, the event consumer, and (later) the scheduler."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from maintenance.consumer import EventConsumer
from maintenance.db import Database
from maintenance.registry.service import sync_registry
from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection
from propwatch.settings import Settings
from propwatch.site import Site

log = logging.getLogger(__name__)


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
        self.db = db or Database(settings.resolved_database_url())
        self.mqtt = MqttConnection(
            mqtt_url,
            f"propwatch-maintenance-{site.id}"
            + (f"-{settings.instance_id}" if settings.instance_id else ""),
            clean_start=False,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        )
        self.consumer = EventConsumer(
            site, self.db, self.mqtt, clock, shared_group=settings.mqtt_shared_group
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> MaintenanceService:
        self.db.create_all()
        with self.db.session() as s:
            sync_registry(s, self.site, self.clock.now())
        self.consumer.start()
        self.mqtt.start()
        await self.mqtt.wait_connected()
        self._tasks.append(asyncio.create_task(self.consumer.run(), name="event-consumer"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.mqtt.stop()

    def health(self) -> dict[str, Any]:
        return {
            "mqtt_connected": self.mqtt.connected.is_set(),
            "events_applied": self.consumer.applied,
            "events_duplicate": self.consumer.duplicates,
            "events_rejected": self.consumer.rejected,
            "queue_depth": self.consumer.queue.qsize(),
        }
