"""Store and forward (断点续传): polling never waits for the sink, and no accepted batch is lost.

`offer` only appends to a bounded in-memory queue. One task cuts the queue into batches and
writes them straight to the sink while it is healthy. The first failed write switches to *outbox
mode*: that batch and every later one go to the durable outbox (`gateway/outbox.py`), and a
second task, the replay, sends the outbox oldest first, with exponential backoff, until it is
empty; only then do batches go straight to the sink again, so the store receives everything in
order.

The replay survives any storage error. A batch the sink has stored but the outbox cannot delete
(disk full) is remembered and deleted later; it is not sent again in this life (after a crash it
is, which is why the store must take a repeated batch as a no-op: see docs/store-and-forward.md).
A batch the outbox cannot take is *held* in memory, in order, and sent from there when the sink
answers, or moved to the outbox when the disk has room again. While the outbox fails the writer
reports it (`problems`, `disk_full`), counts every error, logs the first and then at most one a
minute, and leaves that state by itself on the next write that succeeds: no restart.

Overflow policy, counted and documented in `docs/store-and-forward.md`; the loss counters are
kept in the outbox's counter table, so they survive restarts:
- queue full (the disk slower than the devices): the new sample is refused (`queue_full_points`);
- outbox past its byte bound: its oldest telemetry batches are dropped (`dropped_points`);
- a batch the sink rejects as malformed (HTTP 400) cannot succeed on retry (`rejected_points`);
- the outbox cannot be written and the memory bound (`capacity` held samples) is reached: the
  oldest held batch is dropped (`disk_lost_points`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway import durable
from gateway.outbox import Outbox
from gateway.readings import Sample
from gateway.sinks import SinkRejected, SinkUnavailable, TelemetrySink
from propwatch.clock import Clock

log = logging.getLogger(__name__)

SafeCallback = Callable[[], None]
LOG_EVERY_S = 60.0


@dataclass
class WriterStats:
    """Figures of this life; the loss counters across lives are `Outbox.counters()`."""

    accepted: int = 0
    written: int = 0
    dropped: int = 0
    failed_batches: int = 0
    spilled: int = 0
    replayed: int = 0
    rejected: int = 0
    outbox_errors: int = 0
    lost_on_disk_error: int = 0


@dataclass
class _Held:
    """A batch the outbox could not take, with the barriers that wait for it."""

    samples: list[Sample]
    callbacks: list[SafeCallback] = field(default_factory=list)


class _Step(enum.Enum):
    PROGRESS = "progress"
    SINK_DOWN = "sink down"
    STORAGE_BLOCKED = "storage blocked"


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
        self._hurry = False
        self._wake = asyncio.Event()
        self._drain_wake = asyncio.Event()
        self._mode_lock = asyncio.Lock()
        self._direct = outbox.stats().pending_batches == 0
        self._stopping = False
        # Replay bookkeeping: outbox batches up to `_sent_upto` are in the sink; those in
        # `_unremoved` could not be deleted yet. `_held` are newer than anything in the outbox.
        self._sent_upto = 0
        self._unremoved: list[int] = []
        self._held: deque[_Held] = deque()
        self._held_points = 0
        self._persisting: asyncio.Task[None] | None = None
        self.storage_error = ""
        """The outbox's last write error (SQLite's own words), '' while it writes fine."""
        self.disk_full = False
        self.storage_failing_since: datetime | None = None
        self._errors_unlogged = 0
        self._last_error_log = float("-inf")

    @property
    def queue_depth(self) -> int:
        """Samples accepted and still in memory."""
        return self._queued

    @property
    def held_points(self) -> int:
        """Samples the outbox could not take, waiting in memory for the sink or the disk."""
        return self._held_points

    @property
    def direct(self) -> bool:
        """True while batches go straight to the sink; False while the outbox is in use."""
        return self._direct

    def offer(self, sample: Sample) -> bool:
        """Accept a sample without waiting; False (and counted) when the queue is full."""
        if self._queued >= self.capacity:
            self.stats.dropped += 1
            self.outbox.count("queue_full_points")
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
        makes the broker redeliver instead of forget. A batch held in memory (the outbox cannot
        be written) is not safe yet: its callbacks wait for the sink or the disk.
        """
        self._queue.append(callback)
        self._wake.set()

    def hurry(self) -> None:
        """Cut the next batch now instead of at `flush_interval`: someone waits on its safety.

        MQTT ingestion calls this when its receive window is full of messages held
        unacknowledged: the broker sends nothing more until some are acknowledged, and past
        its queue limit it drops what it cannot hold.
        """
        if not self._hurry:
            self._hurry = True
            self._wake.set()

    def problems(self) -> list[dict[str, str]]:
        """What an operator must act on, in Chinese for the duty room and in English."""
        if not self.storage_error:
            return []
        path = self.outbox.path
        if self.disk_full:
            return [
                {
                    "code": "outbox_disk_full",
                    "zh": (
                        f"网关磁盘已满：断点续传缓存 {path} 无法写入，{self._held_points} 条读数"
                        f"暂存在内存中（上限 {self.capacity} 条，超出后丢弃最旧的）。"
                        "请清理该磁盘，空间恢复后自动续写，无需重启。"
                    ),
                    "en": (
                        f"Gateway disk full: the outbox {path} cannot be written; "
                        f"{self._held_points} samples are held in memory (up to "
                        f"{self.capacity}, the oldest dropped past that). Free space on that "
                        "disk; writing resumes by itself, no restart needed."
                    ),
                    "error": self.storage_error,
                }
            ]
        return [
            {
                "code": "outbox_storage_error",
                "zh": (
                    f"网关断点续传缓存 {path} 写入失败（{self.storage_error}），"
                    f"{self._held_points} 条读数暂存在内存中；请检查磁盘。"
                ),
                "en": (
                    f"The gateway's outbox {path} cannot be written ({self.storage_error}); "
                    f"{self._held_points} samples are held in memory. Check the disk."
                ),
                "error": self.storage_error,
            }
        ]

    async def run(self) -> None:
        drain = asyncio.create_task(self._drain_loop(), name="outbox-replay")
        if not self._direct:
            self._drain_wake.set()
        try:
            while not self._stopping:
                await self._wait_for_batch()
                samples, callbacks = self._cut()
                await self._dispatch(samples, callbacks)
                if self.outbox.unsaved_counts:
                    await self._outbox_write("save counters", self.outbox.save_counts)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            if self._persisting is not None:
                await asyncio.wait({self._persisting})
            while self._queue:
                samples, callbacks = self._cut()
                await self._dispatch(samples, callbacks)
            await self._persist_held()
            if self._held_points:
                # Their barriers stay uncalled: MQTT redelivers those messages to the next life.
                log.error(
                    "stopping with %d samples that neither the sink nor the outbox took: lost",
                    self._held_points,
                )
                self._lose_held()

    async def _wait_for_batch(self) -> None:
        if not self._queue:
            self._wake.clear()
            await self._wake.wait()
        deadline = self.clock.monotonic() + self.flush_interval
        while self._queued < self.batch_size and not self._hurry:
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
        self._hurry = False
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
            callbacks = await self._spill(samples, callbacks)
        elif callbacks and self._held:
            self._held[-1].callbacks.extend(callbacks)  # what came before is not safe yet
            callbacks = []
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

    async def _spill(
        self, samples: list[Sample], callbacks: list[SafeCallback]
    ) -> list[SafeCallback]:
        """Into the outbox, or held in memory behind earlier held batches; returns the
        callbacks that may run now."""
        async with self._mode_lock:
            self._direct = False
            if not self._held and await self._outbox_write(
                "append a batch", self.outbox.append_batch, samples
            ):
                self.stats.spilled += len(samples)
            else:
                self._hold(samples, callbacks)
                callbacks = []
        self._drain_wake.set()
        return callbacks

    def _hold(self, samples: list[Sample], callbacks: list[SafeCallback]) -> None:
        self._held.append(_Held(samples, callbacks))
        self._held_points += len(samples)
        while self._held_points > self.capacity and len(self._held) > 1:
            oldest = self._held.popleft()
            self._held_points -= len(oldest.samples)
            self._lost(len(oldest.samples))
            log.error(
                "outbox unwritable and %d samples held in memory: the oldest %d dropped",
                self._held_points,
                len(oldest.samples),
            )
            for cb in oldest.callbacks:
                cb()

    def _lose_held(self) -> None:
        while self._held:
            self._lost(len(self._held.popleft().samples))
        self._held_points = 0

    def _lost(self, points: int) -> None:
        self.stats.lost_on_disk_error += points
        self.outbox.count("disk_lost_points", points)

    def _rejected(self, samples: list[Sample], exc: SinkRejected) -> None:
        self.stats.rejected += len(samples)
        self.outbox.count("rejected_points", len(samples))
        log.error("sink %s rejected %d samples: %s", self.sink.name, len(samples), exc)

    # the outbox, whose every write may fail

    async def _outbox_write(self, what: str, op: Callable[..., object], *args: Any) -> bool:
        """Run an outbox write in a thread; False (counted, logged, reported) if it failed."""
        try:
            await asyncio.to_thread(op, *args)
        except sqlite3.Error as exc:
            self._storage_failed(what, exc)
            return False
        if self.storage_error:
            log.warning(
                "outbox %s writable again (failing since %s)",
                self.outbox.path,
                self.storage_failing_since,
            )
            self.storage_error = ""
            self.disk_full = False
            self.storage_failing_since = None
        return True

    def _storage_failed(self, what: str, exc: sqlite3.Error) -> None:
        self.stats.outbox_errors += 1
        self.outbox.count("storage_errors")
        first = not self.storage_error
        self.storage_error = durable.describe(exc)
        self.disk_full = durable.is_disk_full(exc)
        if self.storage_failing_since is None:
            self.storage_failing_since = self.clock.now()
        self._errors_unlogged += 1
        now = self.clock.monotonic()
        if first or now - self._last_error_log >= LOG_EVERY_S:
            self._last_error_log = now
            log.error(
                "outbox %s: cannot %s: %s (%d storage errors since the last report; %d samples "
                "held in memory)",
                self.outbox.path,
                what,
                self.storage_error,
                self._errors_unlogged,
                self._held_points,
            )
            self._errors_unlogged = 0

    async def _persist_held(self) -> None:
        """Move held batches to the outbox, oldest first, while it takes them."""
        async with self._mode_lock:
            while self._held:
                held = self._held[0]
                if not await self._outbox_write(
                    "append a held batch", self.outbox.append_batch, held.samples
                ):
                    return
                self._held.popleft()
                self._held_points -= len(held.samples)
                self.stats.spilled += len(held.samples)
                for cb in held.callbacks:
                    cb()

    # the replay

    async def _drain_loop(self) -> None:
        delay = self.retry_min
        while True:
            await self._drain_wake.wait()
            while not self._direct:
                step = await self._replay_step()
                if step is _Step.PROGRESS:
                    delay = self.retry_min
                    continue
                if step is _Step.SINK_DOWN:
                    await self.clock.sleep(delay)
                else:  # only the disk is in the way: new batches to send may come any time
                    await self._pause_or_wake(delay)
                delay = min(delay * 2, self.retry_max)
            self._drain_wake.clear()

    async def _pause_or_wake(self, delay: float) -> None:
        sleep = asyncio.ensure_future(self.clock.sleep(delay))
        wake = asyncio.ensure_future(self._drain_wake.wait())
        try:
            await asyncio.wait({sleep, wake}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            wake.cancel()

    async def _replay_step(self) -> _Step:
        """Send the next batch (outbox first, then held) and settle it."""
        self._drain_wake.clear()
        if self._unremoved and await self._outbox_write(
            "delete replayed batches", self.outbox.remove_batches, list(self._unremoved)
        ):
            self._unremoved.clear()
        try:
            batch = await asyncio.to_thread(self.outbox.batch_after, self._sent_upto)
        except sqlite3.Error as exc:
            self._storage_failed("read a batch", exc)
            return _Step.STORAGE_BLOCKED
        if batch is not None:
            samples = batch.samples
        elif self._held:
            samples = self._held[0].samples
        elif self._unremoved:
            return _Step.STORAGE_BLOCKED
        else:
            async with self._mode_lock:
                if not self._held and self.outbox.stats().pending_batches == 0:
                    self._direct = True
                    log.info("outbox drained; writing straight to %s", self.sink.name)
            return _Step.PROGRESS
        try:
            await self.sink.write(samples)
        except SinkUnavailable as exc:
            self.stats.failed_batches += 1
            log.debug("replay to %s failed: %s", self.sink.name, exc)
            if self._held:  # the sink is away: give what waits in memory to the disk if it can
                self._persisting = asyncio.ensure_future(self._persist_held())
                await asyncio.shield(self._persisting)
                self._persisting = None
            return _Step.SINK_DOWN
        except SinkRejected as exc:
            self._rejected(samples, exc)
        else:
            self.stats.written += len(samples)
            if batch is not None:
                self.stats.replayed += len(samples)
        if batch is not None:
            self._sent_upto = batch.id
            if not await self._outbox_write(
                "delete a replayed batch", self.outbox.remove_batch, batch.id
            ):
                self._unremoved.append(batch.id)
        else:
            held = self._held.popleft()
            self._held_points -= len(held.samples)
            for cb in held.callbacks:
                cb()
        return _Step.PROGRESS
