"""Store and forward (断点续传): polling never waits for the sink, and no accepted batch is lost.

`offer` only appends to a bounded in-memory queue. One task cuts the queue into batches and
writes them straight to the sink while it is healthy. The first failed write switches to *outbox
mode*: that batch and every later one go to the durable outbox (`gateway/outbox.py`), and a
second task replays the outbox oldest first, with exponential backoff, until it is empty; only
then do batches go straight to the sink again, so the store receives everything in order.

Overflow policy, counted and documented in `docs/store-and-forward.md`:
- queue full (the disk slower than the devices): the new sample is refused (`dropped`);
- outbox past its byte bound: its oldest telemetry batches are dropped (`Outbox.dropped_points`);
- a batch the sink rejects as malformed (HTTP 400) cannot succeed on retry: counted (`rejected`);
- the outbox itself cannot be written (disk full or broken): counted (`lost_on_disk_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.outbox import Outbox
from gateway.readings import Sample
from gateway.sinks import SinkRejected, SinkUnavailable, TelemetrySink
from propwatch.clock import Clock

log = logging.getLogger(__name__)

SafeCallback = Callable[[], None]


@dataclass
class WriterStats:
    accepted: int = 0
    written: int = 0
    dropped: int = 0
    failed_batches: int = 0
    spilled: int = 0
    replayed: int = 0
    rejected: int = 0
    outbox_errors: int = 0
    lost_on_disk_error: int = 0


class TelemetryWriter:
    """Cuts the queue into batches (`batch_size` or `flush_interval`) for the sink or outbox."""

    def __init__(
        self,
        sink: TelemetrySink,
        clock: Clock,
        outbox: Outbox,
        capacity: int = 100_000,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        retry_min: float = 0.5,
        retry_max: float = 10.0,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.outbox = outbox
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.stats = WriterStats()
        self._queue: deque[Sample | SafeCallback] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._drain_wake = asyncio.Event()
        self._mode_lock = asyncio.Lock()
        self._direct = outbox.stats().pending_batches == 0
        self._stopping = False

    @property
    def queue_depth(self) -> int:
        """Samples accepted and still in memory."""
        return self._queued

    @property
    def direct(self) -> bool:
        """True while batches go straight to the sink; False while the outbox is in use."""
        return self._direct

    def offer(self, sample: Sample) -> bool:
        """Accept a sample without waiting; False (and counted) when the queue is full."""
        if self._queued >= self.capacity:
            self.stats.dropped += 1
            return False
        self._queue.append(sample)
        self._queued += 1
        self.stats.accepted += 1
        if (self._queued == 1 or self._queued >= self.batch_size) and not self._wake.is_set():
            self._wake.set()
        return True

    def when_safe(self, callback: SafeCallback) -> None:
        """Call `callback` once everything offered so far is in the sink or on disk.

        MQTT ingestion acknowledges a QoS 1 message through this, so a crash before that point
        makes the broker redeliver instead of forget.
        """
        self._queue.append(callback)
        self._wake.set()

    async def run(self) -> None:
        drain = asyncio.create_task(self._drain_loop(), name="outbox-replay")
        if not self._direct:
            self._drain_wake.set()
        try:
            while not self._stopping:
                await self._wait_for_batch()
                samples, callbacks = self._cut()
                await self._dispatch(samples, callbacks)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            while self._queue:
                samples, callbacks = self._cut()
                await self._dispatch(samples, callbacks)

    async def _wait_for_batch(self) -> None:
        if not self._queue:
            self._wake.clear()
            await self._wake.wait()
        deadline = self.clock.monotonic() + self.flush_interval
        while self._queued < self.batch_size:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation
            # that stops the writer at shutdown.
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return

    def _cut(self) -> tuple[list[Sample], list[SafeCallback]]:
        samples: list[Sample] = []
        callbacks: list[SafeCallback] = []
        q = self._queue
        while q and len(samples) < self.batch_size:
            item = q.popleft()
            if isinstance(item, Sample):
                samples.append(item)
            else:
                callbacks.append(item)
        # Barriers right behind a full batch belong to it: nothing else is pending before them.
        while q and not isinstance(q[0], Sample):
            callbacks.append(q.popleft())  # type: ignore[arg-type]
        self._queued -= len(samples)
        return samples, callbacks

    async def _dispatch(self, samples: list[Sample], callbacks: list[SafeCallback]) -> None:
        if samples and self._direct:
            try:
                await self._finish_even_if_cancelled(self.sink.write(samples))
            except SinkUnavailable as exc:
                self.stats.failed_batches += 1
                log.warning("sink %s unavailable, spilling to the outbox: %s", self.sink.name, exc)
            except SinkRejected as exc:
                self._rejected(samples, exc)
                samples = []
            else:
                self.stats.written += len(samples)
                samples = []
        if samples:
            await self._spill(samples)
        for cb in callbacks:
            cb()

    async def _finish_even_if_cancelled(self, write: Coroutine[Any, Any, None]) -> None:
        """A write cut short by shutdown would leave its batch neither stored nor kept: let it
        end, settle the batch as usual, and stop the loop after that."""
        task = asyncio.ensure_future(write)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self._stopping = True
            await asyncio.wait({task})
            task.result()

    async def _spill(self, samples: list[Sample]) -> None:
        async with self._mode_lock:
            try:
                await asyncio.to_thread(self.outbox.append_batch, samples)
            except sqlite3.Error as exc:
                # A full or broken disk: the batch cannot be kept anywhere; count it loudly.
                self.stats.outbox_errors += 1
                self.stats.lost_on_disk_error += len(samples)
                log.error("outbox write failed, %d samples lost: %s", len(samples), exc)
                return
            self._direct = False
            self.stats.spilled += len(samples)
        self._drain_wake.set()

    def _rejected(self, samples: list[Sample], exc: SinkRejected) -> None:
        self.stats.rejected += len(samples)
        log.error("sink %s rejected %d samples: %s", self.sink.name, len(samples), exc)

    async def _drain_loop(self) -> None:
        delay = self.retry_min
        while True:
            await self._drain_wake.wait()
            self._drain_wake.clear()
            while not self._direct:
                batch = await asyncio.to_thread(self.outbox.oldest_batch)
                if batch is None:
                    async with self._mode_lock:
                        if self.outbox.stats().pending_batches == 0:
                            self._direct = True
                            log.info("outbox drained; writing straight to %s", self.sink.name)
                    continue
                try:
                    await self.sink.write(batch.samples)
                except SinkUnavailable as exc:
                    self.stats.failed_batches += 1
                    log.debug("replay to %s failed, retry in %.1fs: %s", self.sink.name, delay, exc)
                    await self.clock.sleep(delay)
                    delay = min(delay * 2, self.retry_max)
                    continue
                except SinkRejected as exc:
                    self._rejected(batch.samples, exc)
                else:
                    self.stats.written += len(batch.samples)
                    self.stats.replayed += len(batch.samples)
                delay = self.retry_min
                await asyncio.to_thread(self.outbox.remove_batch, batch.id)
