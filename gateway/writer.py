"""A bounded queue between the pollers and the sink: polling never waits for a slow sink."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from gateway.readings import Sample
from gateway.sinks import SinkUnavailable, TelemetrySink
from propwatch.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    accepted: int = 0
    written: int = 0
    dropped: int = 0
    failed_batches: int = 0


class TelemetryWriter:
    """Batches samples (up to `batch_size` or every `flush_interval`) into the sink."""

    def __init__(
        self,
        sink: TelemetrySink,
        clock: Clock,
        capacity: int = 100_000,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.queue: asyncio.Queue[Sample] = asyncio.Queue(maxsize=capacity)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.stats = WriterStats()
        self._pending: list[Sample] = []

    def offer(self, sample: Sample) -> bool:
        """Accept a sample without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(sample)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return False
        self.stats.accepted += 1
        return True

    async def run(self) -> None:
        try:
            while True:
                await self._fill()
                await self._flush()
        finally:
            while not self.queue.empty():
                self._pending.append(self.queue.get_nowait())
            await self._flush(final=True)

    async def _fill(self) -> None:
        if not self._pending:
            self._pending.append(await self.queue.get())
        deadline = self.clock.monotonic() + self.flush_interval
        while len(self._pending) < self.batch_size:
            while not self.queue.empty() and len(self._pending) < self.batch_size:
                self._pending.append(self.queue.get_nowait())
            remaining = deadline - self.clock.monotonic()
            if len(self._pending) >= self.batch_size or remaining <= 0:
                return
            try:
                self._pending.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                return

    async def _flush(self, final: bool = False) -> None:
        if not self._pending:
            return
        try:
            await self.sink.write(self._pending)
        except SinkUnavailable as exc:
            self.stats.failed_batches += 1
            log.warning(
                "sink %s unavailable, keeping %d samples: %s",
                self.sink.name,
                len(self._pending),
                exc,
            )
            if not final:
                await self.clock.sleep(1.0)
            return
        self.stats.written += len(self._pending)
        self._pending = []
