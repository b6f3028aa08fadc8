"""One task per link walks the units behind one connection, each on its own schedule.

A task per device sleeping until its tick and handing the link on through a lock cost most of
the gateway's event-loop time at a thousand devices (a timer, a task switch and a lock hand-off
for every poll, on top of the poll). Here the link's task keeps its units in a heap by due time,
sleeps only until the earliest is due and polls every unit already due back to back. A unit's
schedule and health live on its `ModbusDevicePoller`, so the task can be stopped and started
again (a reload changes the units of a link) without a unit losing its place.

Stopping is bounded whatever the Modbus client does inside: `stop` sets a flag the loop reads
before every poll, as well as cancelling the task, so even a cancellation swallowed by a
client's `asyncio.wait_for` (pymodbus on a serial line) ends the task after that one request.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.modbus.connection import ModbusConnection
from propwatch.clock import Clock

if TYPE_CHECKING:
    from gateway.modbus.poller import ModbusDevicePoller

log = logging.getLogger(__name__)


class LinkPoller:
    """巡检一条链路: polls the units of one connection, one at a time, when each is due."""

    def __init__(
        self,
        connection: ModbusConnection,
        clock: Clock,
        pollers: Iterable[ModbusDevicePoller] = (),
    ) -> None:
        self.connection = connection
        self.clock = clock
        self.pollers: dict[str, ModbusDevicePoller] = {p.device.id: p for p in pollers}
        self.task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started: set[str] = set()

    def add(self, poller: ModbusDevicePoller) -> None:
        """Takes effect at the next start of the task."""
        self.pollers[poller.device.id] = poller

    def remove(self, device_id: str) -> None:
        """Takes effect at the next start of the task."""
        self.pollers.pop(device_id, None)
        self._started.discard(device_id)

    def start(self) -> None:
        self._stopping = False
        self.task = asyncio.create_task(self.run(), name=f"poll-{self.connection.name}")
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A link task ends only when stopped; one that raised is said loudly, with its units."""
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(
                "polling of %s (%s) stopped: %r",
                self.connection.name,
                ", ".join(self.pollers),
                exc,
                exc_info=exc,
            )

    def stop(self) -> asyncio.Task[None] | None:
        """Ask the task to end: it is cancelled, and stops before its next poll in any case.
        Returns the task to wait for (with a bound: see `Gateway`)."""
        self._stopping = True
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
        return task

    async def run(self) -> None:
        """Poll until stopped or cancelled. Units not seen before start at their phase."""
        clock = self.clock
        due: list[tuple[float, int, ModbusDevicePoller]] = []
        for n, (device_id, poller) in enumerate(self.pollers.items()):
            if device_id not in self._started:
                poller.start()
                self._started.add(device_id)
            due.append((poller.next_at, n, poller))
        heapq.heapify(due)
        order = len(due)
        while due and not self._stopping:
            next_at, _, poller = due[0]
            wait = next_at - clock.monotonic()
            if wait > 0:
                await clock.sleep(wait)
                continue
            await poller.step()
            order += 1
            heapq.heapreplace(due, (poller.next_at, order, poller))
        if not due and not self._stopping:
            # an empty link has nothing to do until a reload gives it units and starts it again
            await asyncio.Event().wait()
