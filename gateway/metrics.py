"""健康与指标: the gateway's health and metrics over HTTP, in Prometheus text format.

A tiny asyncio HTTP/1.1 server (GET only, one response per connection) keeps the gateway free of a
web framework: `GET /metrics` gives the text exposition format 0.0.4, `GET /healthz` a JSON
health summary. Rates (points in/out per second) are `rate()` over the `_total` counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from propwatch.prometheus import CONTENT_TYPE, Exposition

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)


class MetricsServer:
    """`async with MetricsServer(...)` serves /metrics and /healthz until left."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Callable[[], str],
        health: Callable[[], dict[str, Any]],
    ) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
        self.scrapes = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("gateway metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
            status, ctype, body = self._respond(request.split(b"\r\n", 1)[0])
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that hung up or sent garbage gets nothing; the server carries on
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _respond(self, request_line: bytes) -> tuple[str, str, bytes]:
        parts = request_line.decode("latin-1").split(" ")
        if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET /metrics or /healthz\n"
        path = parts[1].split("?", 1)[0]
        if path == "/metrics":
            self.scrapes += 1
            return "200 OK", CONTENT_TYPE, self.metrics().encode()
        if path == "/healthz":
            body = json.dumps(self.health(), ensure_ascii=False, default=str).encode()
            return "200 OK", "application/json", body
        return "404 Not Found", "text/plain", b"GET /metrics or /healthz\n"


def gateway_exposition(gw: Gateway) -> str:
    """Every gateway figure an operator alerts on, in one scrape."""
    e = Exposition()
    w = gw.writer.stats
    ob = gw.outbox.stats()
    p = "propwatch_gateway_"
    e.counter(p + "points_in_total", "Samples accepted into the write queue.", w.accepted)
    e.counter(p + "points_out_total", "Samples stored by the telemetry sink.", w.written)
    e.add(
        p + "points_dropped_total",
        "counter",
        "Samples lost, by reason (queue full, outbox over its bound, rejected, disk error); "
        "kept across restarts.",
        [
            ({"reason": "queue_full"}, ob.queue_full_points),
            ({"reason": "outbox_overflow"}, ob.dropped_points),
            ({"reason": "rejected"}, ob.rejected_points),
            ({"reason": "outbox_error"}, ob.disk_lost_points),
        ],
    )
    dl = gw.dead_letters.stats()
    e.counter(
        p + "values_refused_total",
        "Reading values the store cannot keep (time, int64 or finite range), dead-lettered.",
        dl.refused_values,
    )
    e.gauge(
        p + "points_held",
        "Samples held in memory because the outbox cannot be written.",
        gw.writer.held_points,
    )
    e.gauge(
        p + "outbox_disk_full",
        "1 while the outbox's disk is full (the gateway's /healthz says degraded).",
        int(gw.writer.disk_full),
    )
    e.gauge(
        p + "outbox_storage_failing",
        "1 while outbox writes fail (disk full or another storage error).",
        int(bool(gw.writer.storage_error)),
    )
    e.counter(
        p + "outbox_storage_errors_total",
        "Failed outbox reads and writes; kept across restarts.",
        ob.storage_errors,
    )
    e.counter(p + "points_spilled_total", "Samples written to the outbox.", w.spilled)
    e.counter(p + "points_replayed_total", "Samples replayed from the outbox.", w.replayed)
    e.counter(p + "sink_failures_total", "Failed sink writes (batches).", w.failed_batches)
    e.gauge(p + "sink_direct", "1 while batches go straight to the sink.", int(gw.writer.direct))
    e.gauge(p + "queue_depth", "Samples in the in-memory queue.", gw.writer.queue_depth)
    e.gauge(p + "queue_capacity", "Bound of the in-memory queue.", gw.writer.capacity)
    e.gauge(p + "outbox_batches", "Telemetry batches waiting in the outbox.", ob.pending_batches)
    e.gauge(p + "outbox_points", "Samples waiting in the outbox.", ob.pending_points)
    e.gauge(p + "outbox_bytes", "Encoded telemetry bytes in the outbox.", ob.pending_bytes)
    e.gauge(p + "outbox_max_bytes", "Telemetry bound of the outbox.", gw.outbox.max_bytes)
    e.gauge(p + "outbox_file_bytes", "Outbox file size with its log.", gw.outbox.file_bytes())
    e.gauge(
        p + "priority_pending", "Alarm and state events awaiting the broker.", ob.priority_pending
    )
    e.counter(
        p + "states_superseded_total",
        "Unsent state events replaced by a newer state of the same asset.",
        ob.superseded_states,
    )
    e.counter(
        p + "events_published_total", "Events acknowledged by the broker.", gw.events.published
    )
    e.counter(p + "alarms_total", "Alarm raise/clear events produced.", gw.alarms_published)
    e.counter(p + "dead_letters_total", "Payloads handed to the dead-letter store.", dl.received)
    e.counter(p + "dead_letters_kept_total", "Dead letters committed to disk (all lives).", dl.kept)
    e.counter(
        p + "dead_letters_pruned_total",
        "Dead letters deleted oldest first past the store's or the queue's bound (all lives).",
        dl.pruned,
    )
    e.gauge(p + "dead_letters_stored", "Dead letters in the store.", dl.stored)
    e.gauge(p + "dead_letters_bytes", "Bytes of the stored dead letters.", dl.stored_bytes)
    e.gauge(p + "dead_letters_max_bytes", "Bound of the dead-letter store.", dl.max_bytes)
    e.gauge(p + "dead_letters_pending", "Dead letters waiting in memory for the disk.", dl.pending)
    e.counter(
        p + "dead_letters_write_errors_total",
        "Failed dead-letter writes (retried).",
        dl.write_errors,
    )
    received = gw.ingest.received if gw.ingest else 0
    e.counter(p + "mqtt_messages_total", "MQTT device messages received.", received)
    e.gauge(
        p + "mqtt_unacknowledged",
        "MQTT messages received and held unacknowledged until what they carried is safe.",
        gw.ingest.unacknowledged if gw.ingest else 0,
    )
    e.counter(
        p + "mqtt_window_full_total",
        "Times the receive window filled and the batch was written at once.",
        gw.ingest.hurried if gw.ingest else 0,
    )
    e.add(
        p + "mqtt_unknown_values_total",
        "counter",
        "Values not in their field's map (bad quality; the message's other fields kept).",
        [
            ({"device": device, "field": name}, n)
            for (device, name), n in sorted((gw.ingest.unknown_values if gw.ingest else {}).items())
        ],
    )
    e.gauge(
        p + "mqtt_connected", "1 while connected to the broker.", int(gw.mqtt.connected.is_set())
    )
    e.counter(p + "mqtt_connects_total", "Successful broker connections.", gw.mqtt.connect_count)
    e.counter(
        p + "mqtt_session_took_over_total",
        "Connections that took the MQTT session from another live gateway with this client id.",
        gw.session.took_over,
    )
    e.counter(
        p + "mqtt_session_taken_over_total",
        "Connections that found another gateway had taken this client id's session meanwhile.",
        gw.session.taken_over,
    )
    suppressed = gw.report.suppressed if gw.report else 0
    e.counter(p + "points_unchanged_total", "Values held back by report by exception.", suppressed)
    pollers = list(gw.pollers)
    e.add(
        p + "device_online",
        "gauge",
        "1 online, 0 offline, NaN not yet polled.",
        [
            ({"device": d.device.id}, math.nan if d.health.online is None else int(d.health.online))
            for d in pollers
        ],
    )
    e.add(
        p + "device_polls_total",
        "counter",
        "Polls per device.",
        [({"device": d.device.id}, d.health.polls) for d in pollers],
    )
    e.add(
        p + "device_errors_total",
        "counter",
        "Failed polls per device and kind (timeout, exception, connection).",
        [
            ({"device": d.device.id, "kind": kind}, n)
            for d in pollers
            for kind, n in sorted(d.health.errors.items())
        ],
    )
    e.add(
        p + "device_poll_latency_seconds",
        "gauge",
        "Duration of the last successful poll.",
        [({"device": d.device.id}, d.health.last_latency_s) for d in pollers],
    )
    return e.text()
