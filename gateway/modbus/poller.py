"""Poll one Modbus device on its own schedule, never delaying the others.

The device's link poller (`gateway.modbus.link`) calls `step` whenever the device is due.

Points are grouped by poll class (`fast`, `normal`, `slow`, … from the profile); each class is
read every `poll_interval × multiplier` in the fewest coalesced reads. A failed poll is retried
with exponential backoff and jitter; the device goes offline after `offline_after` failed polls
in a row and online again after `online_after` good ones (hysteresis, so a flaky link does not
flood the duty room with communication-loss alarms).

A value the store cannot keep (a NaN or infinite float, as a device's "no reading" pattern
decodes) is refused before the sample is handed on (`gateway.readings.split_storable`) and kept
as a dead letter under the topic `modbus/<device>`; the other values of the poll go on.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.dead_letters import DeadLetters
from gateway.modbus.block_decode import BlockDecoder, block_decoder
from gateway.modbus.coalesce import ReadBlock, coalesce_reads
from gateway.modbus.connection import ModbusConnection, ModbusError
from gateway.modbus.link import LinkPoller
from gateway.readings import Sample, Value, split_storable
from propwatch.clock import Clock
from propwatch.profiles import ModbusProfile
from propwatch.site import Device

log = logging.getLogger(__name__)


@dataclass
class DeviceHealth:
    """Counters and online state, per device."""

    online: bool | None = None
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    polls: int = 0
    failures: int = 0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    last_latency_s: float = 0.0
    last_lag_s: float = 0.0
    last_error: str = ""
    refused_values: int = 0
    """Values the store could not keep (kept as dead letters)."""


@dataclass
class PollClass:
    """The blocks of one poll class, read every `every` ticks of the device's schedule."""

    name: str
    every: int
    blocks: list[ReadBlock]
    last_tick: int | None = None
    decoders: list[BlockDecoder] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.decoders = [block_decoder(b) for b in self.blocks]


def plan_poll_classes(device: Device, profile: ModbusProfile) -> tuple[float, list[PollClass]]:
    """The device's tick (the fastest class in use) and coalesced reads per class, fastest
    first. Classes are whole multiples of the tick, so a slow read always rides along with a
    normal one and a sample never lacks the normal points."""
    max_gap = device.max_gap if device.max_gap is not None else profile.max_gap
    used = {p.poll_class for p in profile.points}
    multipliers = {k: v for k, v in profile.poll_classes.items() if k in used}
    fastest = min(multipliers.values())
    classes = []
    for name, multiplier in sorted(multipliers.items(), key=lambda kv: kv[1]):
        points = [p for p in profile.points if p.poll_class == name]
        every = max(1, round(multiplier / fastest))
        classes.append(PollClass(name, every, coalesce_reads(points, max_gap)))
    return device.poll_interval * fastest, classes


class ModbusDevicePoller:
    """Reads a device's due poll classes, hands each result on, and keeps its health.

    `phase` delays the first poll: spreading devices over the interval keeps units behind one
    link from queueing for it all at the same instant every tick."""

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
        online_after: int = 2,
        max_backoff: float = 30.0,
        phase: float = 0.0,
        dead_letters: DeadLetters | None = None,
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
        self.online_after = online_after
        self.max_backoff = max_backoff
        self.phase = phase
        self.dead_letters = dead_letters
        self.tick_seconds, self.classes = plan_poll_classes(device, profile)
        self.blocks: list[ReadBlock] = [b for c in self.classes for b in c.blocks]
        self.units = {p.name: p.unit for p in profile.points if p.unit}
        self.health = DeviceHealth()
        self.due_at = 0.0
        """When the poll in progress was due (monotonic): a reading's age is measured from it."""
        self.tick = 0
        self.next_at = 0.0
        """When the next poll is due (monotonic), kept across a restart of the link's task."""
        self._rng = random.Random(device.id)

    async def poll_once(self, classes: list[PollClass] | None = None) -> Sample:
        """Read the given poll classes (all by default) into one sample."""
        values: dict[str, Value] = {}
        read, unit_id, timeout = self.connection.read, self.device.unit_id, self.device.timeout
        async with self.connection.turn:
            started = self.clock.monotonic()
            for c in self.classes if classes is None else classes:
                for block, decode_block in zip(c.blocks, c.decoders, strict=True):
                    self.health.requests += 1
                    words = await read(block.function, block.address, block.count, unit_id, timeout)
                    decode_block(words, values)
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

    def backoff(self) -> float:
        """Exponential in the failures so far, capped, with jitter so that devices that failed
        together do not retry together. It starts at no less than the timeout, so a silent unit
        holds a shared link at most about half the time even before it is called offline."""
        first = max(self.device.poll_interval, self.device.timeout)
        base = first * 2.0 ** min(self.health.consecutive_failures - 1, 10)
        return min(self.max_backoff, base) * self._rng.uniform(0.5, 1.0)

    def _due(self, tick: int) -> list[PollClass]:
        return [c for c in self.classes if c.last_tick is None or tick - c.last_tick >= c.every]

    def start(self) -> None:
        """Schedule the first poll `phase` seconds from now, at tick 0."""
        self.tick = 0
        self.next_at = self.clock.monotonic() + self.phase

    async def step(self) -> None:
        """Poll the classes due at this tick (the caller waited until `next_at`), hand the
        sample on and move `next_at`: one tick on, skipping ticks missed while behind rather
        than bursting, or a backoff from now after a failure (the same tick is retried)."""
        due = self._due(self.tick)
        self.due_at = self.next_at
        self.health.last_lag_s = max(0.0, self.clock.monotonic() - self.next_at)
        try:
            sample = await self.poll_once(due)
        except ModbusError as exc:
            self._failed(exc)
            self.next_at = self.clock.monotonic() + self.backoff()
            return
        self._succeeded()
        for c in due:
            c.last_tick = self.tick
        if (storable := self._storable(sample)) is not None:
            self.on_sample(storable)
        self.tick += 1
        self.next_at += self.tick_seconds
        now = self.clock.monotonic()
        if self.next_at <= now:  # fell behind: skip missed ticks rather than burst
            missed = math.ceil((now - self.next_at) / self.tick_seconds)
            self.tick += missed
            self.next_at += missed * self.tick_seconds

    async def run(self) -> None:
        """Poll this device alone on its connection until cancelled (see `LinkPoller`)."""
        await LinkPoller(self.connection, self.clock, [self]).run()

    def _storable(self, sample: Sample) -> Sample | None:
        """The sample without the values the store cannot keep; those become a dead letter."""
        storable, refusal = split_storable(sample)
        if refusal is None:
            return sample
        self.health.refused_values += refusal.values
        if self.dead_letters is not None:
            refused = refusal.fields or sample.values
            payload = json.dumps(
                {"device": self.device.id, "values": {k: repr(sample.values[k]) for k in refused}}
            ).encode()
            self.dead_letters.refuse(f"modbus/{self.device.id}", payload, sample.at, refusal)
        return storable

    def _failed(self, exc: ModbusError) -> None:
        h = self.health
        h.polls += 1
        h.failures += 1
        h.consecutive_failures += 1
        h.consecutive_successes = 0
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
        h.consecutive_successes += 1
        if h.online is None or (h.online is False and h.consecutive_successes >= self.online_after):
            was_offline = h.online is False
            h.online = True
            if was_offline:
                log.info("device %s back online", self.device.id)
            self.on_online_change(self.device.id, True, "")
