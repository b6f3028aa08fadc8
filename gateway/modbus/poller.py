"""Poll one Modbus device on its own interval, never delaying the others."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.modbus.coalesce import ReadBlock, coalesce_reads
from gateway.modbus.connection import ModbusConnection, ModbusError
from gateway.readings import Sample, Value
from propwatch.clock import Clock
from propwatch.profiles import ModbusProfile
from propwatch.registers import decode
from propwatch.site import Device

log = logging.getLogger(__name__)


@dataclass
class DeviceHealth:
    """Counters and online state with hysteresis (offline after N straight failures)."""

    online: bool | None = None
    consecutive_failures: int = 0
    polls: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    last_latency_s: float = 0.0
    last_error: str = ""


class ModbusDevicePoller:
    """Reads a device's coalesced blocks every `poll_interval`, with backoff on failure."""

    def __init__(
        self,
        site_id: str,
        asset_id: str,
        device: Device,
        profile: ModbusProfile,
        connection: ModbusConnection,
        clock: Clock,
        on_sample: Callable[[Sample], None],
        on_online_change: Callable[[str, bool, str], None],
        offline_after: int = 3,
        max_backoff: float = 30.0,
    ) -> None:
        self.site_id = site_id
        self.asset_id = asset_id
        self.device = device
        self.profile = profile
        self.connection = connection
        self.clock = clock
        self.on_sample = on_sample
        self.on_online_change = on_online_change
        self.offline_after = offline_after
        self.max_backoff = max_backoff
        self.blocks: list[ReadBlock] = coalesce_reads(list(profile.points))
        self.units = {p.name: p.unit for p in profile.points if p.unit}
        self.health = DeviceHealth()
        self._rng = random.Random(device.id)

    async def poll_once(self) -> Sample:
        values: dict[str, Value] = {}
        started = self.clock.monotonic()
        for block in self.blocks:
            words = await self.connection.read(
                block.function, block.address, block.count, self.device.unit_id
            )
            for p in block.points:
                off = p.address - block.address
                values[p.name] = decode(p, words[off : off + p.width])
        self.health.last_latency_s = self.clock.monotonic() - started
        return Sample(
            self.site_id,
            self.asset_id,
            self.device.id,
            self.profile.kind,
            self.clock.now(),
            values,
            self.units,
        )

    async def run(self) -> None:
        interval = self.device.poll_interval
        next_at = self.clock.monotonic()
        while True:
            try:
                sample = await self.poll_once()
            except ModbusError as exc:
                self._failed(exc)
                backoff = min(
                    self.max_backoff, interval * 2 ** min(self.health.consecutive_failures, 6)
                )
                await self.clock.sleep(backoff * self._rng.uniform(0.8, 1.2))
                next_at = self.clock.monotonic()
                continue
            self._succeeded()
            self.on_sample(sample)
            next_at += interval
            now = self.clock.monotonic()
            if next_at < now:  # we fell behind: skip missed slots rather than burst
                next_at = now
            await self.clock.sleep(next_at - now)

    def _failed(self, exc: ModbusError) -> None:
        h = self.health
        h.polls += 1
        h.consecutive_failures += 1
        h.errors[exc.kind] = h.errors.get(exc.kind, 0) + 1
        h.last_error = str(exc)
        if h.consecutive_failures >= self.offline_after and h.online is not False:
            h.online = False
            log.warning("device %s offline: %s", self.device.id, exc)
            self.on_online_change(self.device.id, False, str(exc))

    def _succeeded(self) -> None:
        h = self.health
        h.polls += 1
        h.consecutive_failures = 0
        if h.online is not True:
            was_offline = h.online is False
            h.online = True
            if was_offline:
                log.info("device %s back online", self.device.id)
            self.on_online_change(self.device.id, True, "")
