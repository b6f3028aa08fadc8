"""Send kept commands to the gateways (QoS 1), a few milliseconds after the API kept them.

The API process has no broker connection; the maintenance service has one, so it sends what the
API recorded: every `interval` it looks for pending commands of the sites it serves, claims each
(`pending` → `sent`, one replica wins) and publishes it on the site's gateway command topic. The
same loop marks commands nobody answered as expired (`expire_unanswered`, once a second).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from maintenance.commands.models import DeviceCommand as CommandRow
from maintenance.commands.service import (
    any_unanswered,
    claim_for_sending,
    due_to_send,
    expire_unanswered,
)
from maintenance.db import Database
from propwatch.clock import Clock
from propwatch.commands import DeviceCommand as CommandMessage
from propwatch.commands import command_topic
from propwatch.mqtt import MqttConnection
from propwatch.site import Site

log = logging.getLogger(__name__)

INTERVAL = 0.05
"""Seconds between looks for pending commands: most of a command's wait before it is sent."""
EXPIRE_EVERY = 1.0


class CommandDispatcher:
    def __init__(
        self,
        db: Database,
        mqtt: MqttConnection,
        clock: Clock,
        sites: Callable[[], Mapping[str, Site]],
        interval: float = INTERVAL,
    ) -> None:
        self.db = db
        self.mqtt = mqtt
        self.clock = clock
        self.sites = sites
        self.interval = interval
        self.sent = 0
        self.expired = 0
        self.errors = 0
        self._last_expiry = float("-inf")

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.dispatch_once)
            except Exception:
                # a database away: the commands stay pending (and expire if it stays away)
                self.errors += 1
                log.exception("sending commands failed; retrying")
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.interval)

    def dispatch_once(self) -> int:
        """In a worker thread: send what is pending; the number sent. The look is a read (on
        SQLite it takes no write lock); only a command found takes one, to be claimed."""
        now = self.clock.now()
        sweep = self.clock.monotonic() - self._last_expiry >= EXPIRE_EVERY
        with Session(self.db.reader) as s:
            due = [c.id for c in due_to_send(s, set(self.sites()), now)]
            overdue = sweep and any_unanswered(s, now)
        if sweep:
            self._last_expiry = self.clock.monotonic()
        if overdue:
            with self.db.session() as s:
                self.expired += expire_unanswered(s, now)
        sent = 0
        for command_id in due:
            with self.db.session() as s:
                if not claim_for_sending(s, command_id, now):
                    continue  # another replica sends it
                row = s.get(CommandRow, command_id)
                assert row is not None
                message = CommandMessage.model_validate(
                    {
                        "command_id": row.id,
                        "site_id": row.site_id,
                        "asset_id": row.asset_code,
                        "device_id": row.device_id,
                        "point": row.point,
                        "value": row.value,
                        "issued_at": row.requested_at,
                        "expires_at": row.expires_at,
                    }
                )
            self.mqtt.publish(command_topic(message.site_id), message.model_dump_json(), qos=1)
            sent += 1
        self.sent += sent
        return sent
