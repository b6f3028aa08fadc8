"""MQTT devices: map JSON payloads to samples by field paths; bad payloads go to dead letters.

QoS 1 messages are acknowledged by hand (paho's `manual_ack`): a message is acknowledged only
once its sample is in the sink or in the durable outbox, or once it is committed as a dead
letter (from the dead-letter thread; paho's `ack` is thread-safe). A gateway that dies before
that leaves the message unacknowledged in its persistent session, and the broker delivers it
again.

Values that parse but cannot be stored (`gateway.readings.split_storable`: a timestamp outside
the store's range, an integer past int64, a non-finite number) are refused here: the payload is
kept as a dead letter naming them, and the sample goes on with the other values, if any.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho

from gateway.dead_letters import DeadLetters
from gateway.readings import Sample, Value, split_storable
from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection
from propwatch.profiles import MqttField, MqttProfile
from propwatch.site import Device

log = logging.getLogger(__name__)


class PayloadError(ValueError):
    """A payload that cannot be mapped; the reason goes to the dead-letter store."""


def _at_path(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _convert(f: MqttField, raw: Any) -> Value:
    if f.map is not None:
        key = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if key not in f.map:
            raise PayloadError(f"{f.path}: value {_clip(raw)} not in the profile's map")
        return f.map[key]
    if f.type == "bool":
        if not isinstance(raw, bool | int):
            raise PayloadError(f"{f.path}: expected a boolean, got {raw!r}")
        return bool(raw)
    if f.type == "string":
        return str(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PayloadError(f"{f.path}: expected a number, got {_clip(raw)}")
    try:
        scaled = float(raw) * f.scale
    except OverflowError as exc:
        raise PayloadError(f"{f.path}: number out of range") from exc
    if not math.isfinite(scaled):
        raise PayloadError(f"{f.path}: not a finite number: {_clip(raw)}")
    if f.type == "int":
        return int(raw) if f.scale == 1.0 and isinstance(raw, int) else int(scaled)
    return scaled


def _clip(raw: Any, limit: int = 80) -> str:
    text = repr(raw)
    return text if len(text) <= limit else text[:limit] + "…"


def map_payload(profile: MqttProfile, payload: bytes) -> tuple[dict[str, Value], datetime | None]:
    """Values by profile field name, and the device's own timestamp when it sends one."""
    if len(payload) > profile.max_payload_bytes:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {profile.max_payload_bytes}")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise PayloadError("JSON nested too deeply") from exc
    if not isinstance(doc, dict):
        raise PayloadError("payload is not a JSON object")
    values: dict[str, Value] = {}
    for f in profile.fields:
        raw = _at_path(doc, f.path)
        if raw is not None:
            values[f.name] = _convert(f, raw)
    if not values:
        raise PayloadError("no profile field present in payload")
    ts = None
    if profile.timestamp_path and (raw_ts := _at_path(doc, profile.timestamp_path)) is not None:
        try:
            ts = datetime.fromisoformat(str(raw_ts))
        except ValueError as exc:
            raise PayloadError(f"{profile.timestamp_path}: bad timestamp {_clip(raw_ts)}") from exc
        if ts.tzinfo is None:
            raise PayloadError(f"{profile.timestamp_path}: timestamp without a time zone")
    return values, ts


SafeCallback = Callable[[], None]


def _by_topic(
    devices: list[tuple[Device, str, MqttProfile]],
) -> dict[str, tuple[Device, str, MqttProfile]]:
    return {
        profile.topic.replace("{device}", device.id): (device, asset_id, profile)
        for device, asset_id, profile in devices
    }


class MqttIngest:
    """Subscribes to every MQTT device of the site on its own connection (persistent session).

    `when_safe(callback)` calls back once everything handed to `on_sample` so far is stored or on
    disk (`TelemetryWriter.when_safe`); the QoS 1 acknowledgement waits for it. Without it a
    message is acknowledged as soon as `on_sample` returns.
    """

    def __init__(
        self,
        site_id: str,
        devices: list[tuple[Device, str, MqttProfile]],
        connection: MqttConnection,
        clock: Clock,
        dead_letters: DeadLetters,
        on_sample: Callable[[Sample], None],
        when_safe: Callable[[SafeCallback], None] | None = None,
        max_payload_bytes: int = 1 << 20,
    ) -> None:
        self.site_id = site_id
        self.clock = clock
        self.dead_letters = dead_letters
        self.on_sample = on_sample
        self.when_safe = when_safe
        self.connection = connection
        self.max_payload_bytes = max_payload_bytes
        self.received = 0
        self.mapped = 0
        self.refused = 0
        """Samples with at least one unstorable value (kept as dead letters)."""
        self.by_topic = _by_topic(devices)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.connection.on_message = self._from_paho_thread
        for topic in self.by_topic:
            self.connection.subscribe(topic, qos=1)

    def update(self, devices: list[tuple[Device, str, MqttProfile]]) -> tuple[int, int]:
        """A reloaded site's MQTT devices: subscribe to the new topics, drop the removed ones.

        Runs on the event loop, like `handle`, so no message is mapped with half a table; a
        message already delivered for a removed topic becomes a dead letter, never a crash.
        Returns (topics added, topics removed)."""
        wanted = _by_topic(devices)
        added = [t for t in wanted if t not in self.by_topic]
        removed = [t for t in self.by_topic if t not in wanted]
        self.by_topic = wanted
        for topic in removed:
            self.connection.unsubscribe(topic)
        for topic in added:
            self.connection.subscribe(topic, qos=1)
        return len(added), len(removed)

    def _from_paho_thread(self, msg: paho.MQTTMessage) -> None:
        assert self._loop is not None
        # the connection it came on: an ack after a reconnect would hit another message's id
        connection = self.connection.connection_number
        self._loop.call_soon_threadsafe(
            self.handle, msg.topic, bytes(msg.payload), msg.mid, msg.qos, connection
        )

    def handle(
        self,
        topic: str,
        payload: bytes,
        mid: int = 0,
        qos: int = 0,
        connection: int | None = None,
    ) -> None:
        """Map one message; whatever happens, it ends acknowledged and nothing is raised."""
        self.received += 1

        def ack() -> None:
            if qos > 0 and self.connection.manual_ack:
                self.connection.ack(mid, qos, connection)

        sample = self._sample_or_dead_letter(topic, payload, ack)
        if sample is None:
            return
        storable, refusal = split_storable(sample)
        if refusal is not None:
            self.refused += 1
            if storable is None:
                self.dead_letters.refuse(topic, payload, self.clock.now(), refusal, then=ack)
                return
            ack = _after_both(ack)  # the sample made safe and the dead letter committed
            self.dead_letters.refuse(topic, payload, self.clock.now(), refusal, then=ack)
            sample = storable
        self.mapped += 1
        self.on_sample(sample)
        if self.when_safe is None:
            ack()
        else:
            self.when_safe(ack)

    def _sample_or_dead_letter(
        self, topic: str, payload: bytes, ack: Callable[[], None]
    ) -> Sample | None:
        now = self.clock.now()
        if len(payload) > self.max_payload_bytes:
            self.dead_letters.keep(
                topic,
                payload[: self.max_payload_bytes],
                now,
                f"payload of {len(payload)} bytes exceeds {self.max_payload_bytes}; "
                f"first {self.max_payload_bytes} bytes kept",
                then=ack,
            )
            return None
        entry = self.by_topic.get(topic)
        if entry is None:
            self.dead_letters.keep(topic, payload, now, "no device for topic", then=ack)
            return None
        device, asset_id, profile = entry
        try:
            values, ts = map_payload(profile, payload)
        except PayloadError as exc:
            self.dead_letters.keep(topic, payload, now, str(exc), then=ack)
            return None
        except (ValueError, TypeError, ArithmeticError) as exc:
            # A payload shape the mapping did not foresee is still the payload's fault.
            reason = f"unmappable: {type(exc).__name__}: {exc}"
            self.dead_letters.keep(topic, payload, now, reason, then=ack)
            return None
        units = {f.name: f.unit for f in profile.fields if f.unit}
        return Sample(self.site_id, asset_id, device.id, profile.kind, ts or now, values, units)


def _after_both(callback: Callable[[], None]) -> Callable[[], None]:
    """A callback that runs `callback` on its second call (from either thread)."""
    lock = threading.Lock()
    calls = 0

    def once_both() -> None:
        nonlocal calls
        with lock:
            calls += 1
            if calls != 2:
                return
        callback()

    return once_both
