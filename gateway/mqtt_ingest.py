"""MQTT devices: map JSON payloads to samples by field paths; bad payloads go to dead letters.

QoS 1 messages are acknowledged by hand (paho's `manual_ack`): a message is acknowledged only
once its sample is in the sink or in the durable outbox, or once it is committed as a dead
letter (from the dead-letter thread; paho's `ack` is thread-safe). A gateway that dies before
that leaves the message unacknowledged in its persistent session, and the broker delivers it
again.

A device that falls silent is offline (通信中断) once it has sent nothing at all — no event, no
heartbeat, not even a bad payload — for its allowed silence (`offline_after` of the device or
its profile, three heartbeats by default), measured on the injected clock; its next message
brings it back. A device never heard from since start gets the same allowance from start. While
the gateway itself is cut off from the broker, silence is not the device's fault: the watch
pauses, and every allowance starts again once the connection is back.

Values that parse but cannot be stored (`gateway.readings.split_storable`: a timestamp outside
the store's range, an integer past int64, a non-finite number) are refused here: the payload is
kept as a dead letter naming them, and the sample goes on with the other values, if any.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho

from gateway.dead_letters import DeadLetters
from gateway.readings import Sample, Value, split_storable
from propwatch.clock import Clock
from propwatch.messages import say
from propwatch.mqtt import MqttConnection
from propwatch.profiles import MqttField, MqttProfile
from propwatch.site import Device, mqtt_topic

log = logging.getLogger(__name__)


class PayloadError(ValueError):
    """A payload that cannot be mapped; the reason goes to the dead-letter store."""


class UnknownValue(PayloadError):
    """A value the field's `map` does not list (a vendor's new state): that field is bad
    quality, the message's other fields are kept."""


def _at_path(doc: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if type(doc) is not dict:
            return None
        doc = doc.get(part)
        if doc is None:
            return None
    return doc


def _convert(f: MqttField, raw: Any) -> Value:
    if f.map is not None:
        key = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if key not in f.map:
            raise UnknownValue(f"{f.path}: value {_clip(raw)} not in the profile's map")
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


class NoKnownValue(PayloadError):
    """Every field the payload carries has a value its map does not know: nothing to keep."""

    def __init__(self, unknown: dict[str, str]) -> None:
        super().__init__("no known value: " + "; ".join(unknown.values()))
        self.unknown = unknown


@dataclass(frozen=True, slots=True)
class MappedPayload:
    """What a payload gave: values by field name, the device's own timestamp if it sent one,
    and the fields whose value the profile's map does not know (bad quality), with why."""

    values: dict[str, Value]
    at: datetime | None
    unknown: dict[str, str]


class PayloadMap:
    """A profile's fields with their paths split once, not on every message."""

    def __init__(self, profile: MqttProfile) -> None:
        self.profile = profile
        # (field, first key, the keys below it): most fields of a message are absent, and
        # one dict lookup of the first key settles those.
        self.fields = [
            (f, parts[0], parts[1:]) for f in profile.fields for parts in [f.path.split(".")]
        ]
        self.timestamp = tuple(profile.timestamp_path.split(".")) if profile.timestamp_path else ()
        self.units = {f.name: f.unit for f in profile.fields if f.unit}

    def map(self, payload: bytes) -> MappedPayload:
        profile = self.profile
        if len(payload) > profile.max_payload_bytes:
            raise PayloadError(
                f"payload of {len(payload)} bytes exceeds {profile.max_payload_bytes}"
            )
        try:
            # JSON between systems is UTF-8 (RFC 8259); decoding first spares json's guess.
            doc = json.loads(payload.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"not JSON: {exc}") from exc
        except RecursionError as exc:
            raise PayloadError("JSON nested too deeply") from exc
        if type(doc) is not dict:
            raise PayloadError("payload is not a JSON object")
        values: dict[str, Value] = {}
        unknown: dict[str, str] = {}
        for f, first, below in self.fields:
            raw = doc.get(first)
            for part in below:
                if type(raw) is not dict:
                    raw = None
                    break
                raw = raw.get(part)
            if raw is None:
                continue
            try:
                values[f.name] = _convert(f, raw)
            except UnknownValue as exc:
                unknown[f.name] = str(exc)
        if not values:
            if unknown:
                raise NoKnownValue(unknown)
            raise PayloadError("no profile field present in payload")
        ts = None
        if self.timestamp and (raw_ts := _at_path(doc, self.timestamp)) is not None:
            path = profile.timestamp_path
            try:
                ts = datetime.fromisoformat(str(raw_ts))
            except ValueError as exc:
                raise PayloadError(f"{path}: bad timestamp {_clip(raw_ts)}") from exc
            if ts.tzinfo is None:
                raise PayloadError(f"{path}: timestamp without a time zone")
        return MappedPayload(values, ts, unknown)


def map_payload(profile: MqttProfile, payload: bytes) -> MappedPayload:
    """Map one payload by its profile (`PayloadMap` keeps the split paths between calls)."""
    return PayloadMap(profile).map(payload)


SafeCallback = Callable[[], None]
UNKNOWN_LOGGED_MAX = 1000
"""Distinct unknown values logged at most in a life (each once); all are counted."""
_Arrival = tuple[str, bytes | bytearray, int, int, int]
"""(topic, payload, packet id, QoS, connection number) as paho's thread hands it over."""
OnlineChange = Callable[[str, bool, str], None]
"""(device id, online, reason): the same callback a Modbus poller calls."""


@dataclass
class Silence:
    """When an MQTT device was last heard from (monotonic), and what the gateway made of it."""

    allowed: float
    heard_at: float
    online: bool | None = None
    """None until the first message or the first verdict of silence."""
    messages: int = 0

    def silent_for(self, now: float) -> float:
        return max(0.0, now - self.heard_at)


def allowed_silence(device: Device, profile: MqttProfile) -> float:
    """The device's own `offline_after`, else its profile's (three heartbeats by default)."""
    return device.offline_after if device.offline_after is not None else profile.allowed_silence()


@dataclass(frozen=True, slots=True)
class Route:
    """One subscribed topic: the device that publishes on it and how its payloads map."""

    device: Device
    asset_id: str
    payload_map: PayloadMap


def _by_topic(devices: list[tuple[Device, str, MqttProfile]]) -> dict[str, Route]:
    return {
        mqtt_topic(device, profile): Route(device, asset_id, PayloadMap(profile))
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
        on_online_change: OnlineChange | None = None,
        hurry: Callable[[], None] | None = None,
        receive_window: int = 20,
        on_bad_quality: Callable[[str, list[str]], None] | None = None,
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
        self.on_online_change = on_online_change
        self.silence: dict[str, Silence] = {}
        self._watched_connects = -1
        """The broker connection the allowances were last started on (`connect_count`)."""
        self._watch_silence(devices)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.hurry = hurry
        self.on_bad_quality = on_bad_quality
        """(asset id, field names): values the profile's map does not know, in a message whose
        other fields were kept."""
        self.unknown_values: Counter[tuple[str, str]] = Counter()
        """Values not in their field's map, by (device id, field name)."""
        self._unknown_logged: set[tuple[str, str]] = set()
        self.receive_window = receive_window
        # Three quarters of the window: batches as large as the broker lets them be, with a
        # quarter of the window left to arrive while the batch is written.
        self._hurry_at = max(1, receive_window - receive_window // 4)
        self.hurried = 0
        """Times the window filled and the writer was asked to cut its batch at once."""
        self._held_acks = 0
        """QoS 1 messages received and not yet settled (acknowledged or let go)."""
        self._acks_lock = threading.Lock()
        self._inbox: deque[_Arrival] = deque()
        self._drain_scheduled = False

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
        self._watch_silence(devices)
        added = [t for t in wanted if t not in self.by_topic]
        removed = [t for t in self.by_topic if t not in wanted]
        self.by_topic = wanted
        for topic in removed:
            self.connection.unsubscribe(topic)
        for topic in added:
            self.connection.subscribe(topic, qos=1)
        return len(added), len(removed)

    def _watch_silence(self, devices: list[tuple[Device, str, MqttProfile]]) -> None:
        """Allowances for these devices: a new one's counts from now, a kept one keeps its
        last message and verdict (a changed `offline_after` applies at once)."""
        now = self.clock.monotonic()
        kept = self.silence
        self.silence = {}
        for device, _, profile in devices:
            allowed = allowed_silence(device, profile)
            watch = kept.get(device.id) or Silence(allowed, now)
            watch.allowed = allowed
            self.silence[device.id] = watch

    def heard(self, device_id: str) -> None:
        """Anything at all from the device (a bad payload too) shows it is alive."""
        watch = self.silence.get(device_id)
        if watch is None:
            return
        watch.heard_at = self.clock.monotonic()
        watch.messages += 1
        if watch.online is not True:
            was_offline = watch.online is False
            watch.online = True
            if was_offline:
                log.info("MQTT device %s heard from again", device_id)
            if self.on_online_change is not None:
                self.on_online_change(device_id, True, "")

    def check_silence(self) -> list[str]:
        """Call offline every device silent past its allowance; the ids newly offline.

        Nothing is called offline while the broker connection is down, and a new connection
        (a reconnect the watch has not seen yet) restarts every allowance: what the broker
        queued meanwhile arrives now, and a device gets its full allowance to be heard."""
        if not self.connection.connected.is_set():
            return []
        now = self.clock.monotonic()
        if self.connection.connect_count != self._watched_connects:
            self._watched_connects = self.connection.connect_count
            for watch in self.silence.values():
                watch.heard_at = max(watch.heard_at, now)
            return []
        newly = []
        for device_id, watch in self.silence.items():
            silent = watch.silent_for(now)
            if silent <= watch.allowed or watch.online is False:
                continue
            watch.online = False
            newly.append(device_id)
            reason = say(
                f"{silent:.0f} 秒未收到任何消息（允许 {watch.allowed:.0f} 秒）",
                f"nothing received for {silent:.0f} s (allowed {watch.allowed:.0f} s)",
            )
            log.warning("MQTT device %s offline: %s", device_id, reason)
            if self.on_online_change is not None:
                self.on_online_change(device_id, False, reason)
        return newly

    async def watch_silence(self) -> None:
        """Check the allowances on the injected clock, about ten times per shortest allowance
        (at most once a second), for as long as the gateway runs."""
        while True:
            self.check_silence()
            shortest = min((w.allowed for w in self.silence.values()), default=10.0)
            await self.clock.sleep(min(1.0, shortest / 10))

    @property
    def hurry_at(self) -> int:
        """Messages held unacknowledged at which the writer is asked to cut its batch now."""
        return self._hurry_at

    @property
    def unacknowledged(self) -> int:
        """QoS 1 messages received and held unacknowledged until what they carried is safe."""
        return self._held_acks

    def _from_paho_thread(self, msg: paho.MQTTMessage) -> None:
        assert self._loop is not None
        # the connection it came on: an ack after a reconnect would hit another message's id
        self._inbox.append(
            (msg.topic, msg.payload, msg.mid, msg.qos, self.connection.connection_number)
        )
        # One wake-up of the loop for every run of messages, not one per message.
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon_threadsafe(self._drain_inbox)

    def _drain_inbox(self) -> None:
        self._drain_scheduled = False  # before the first pop: a later arrival schedules again
        inbox = self._inbox
        acks: list[tuple[int, int, int | None]] = []
        while inbox:
            topic, payload, mid, qos, connection = inbox.popleft()
            self._handle(topic, bytes(payload), mid, qos, connection, acks)
        if acks:
            if self.when_safe is None:
                self._ack_all(acks)
            else:
                self.when_safe(functools.partial(self._ack_all, acks))
        if self.hurry is not None and self._held_acks >= self._hurry_at:
            # The broker sends no more until some are acknowledged: settle them now, not at the
            # batch deadline, or its queue overflows and it drops messages (docs/performance.md).
            self.hurried += 1
            self.hurry()

    def _ack_all(self, acks: list[tuple[int, int, int | None]]) -> None:
        if self.connection.manual_ack:
            self.connection.ack_many(acks)
        with self._acks_lock:
            self._held_acks -= len(acks)

    def handle(
        self,
        topic: str,
        payload: bytes,
        mid: int = 0,
        qos: int = 0,
        connection: int | None = None,
    ) -> None:
        """Map one message; whatever happens, it ends acknowledged and nothing is raised."""
        acks: list[tuple[int, int, int | None]] = []
        self._handle(topic, payload, mid, qos, connection, acks)
        if acks:
            if self.when_safe is None:
                self._ack_all(acks)
            else:
                self.when_safe(functools.partial(self._ack_all, acks))

    def _handle(
        self,
        topic: str,
        payload: bytes,
        mid: int,
        qos: int,
        connection: int | None,
        acks: list[tuple[int, int, int | None]],
    ) -> None:
        """Map one message; a mapped one's ack joins `acks` (acknowledged once the samples are
        safe), any other is acknowledged once its dead letter is committed."""
        self.received += 1
        if qos > 0:
            with self._acks_lock:
                self._held_acks += 1

        def ack() -> None:
            self._ack_all([(mid, qos, connection)] if qos > 0 else [])

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
            self.mapped += 1
            self.on_sample(storable)
            if self.when_safe is None:
                ack()
            else:
                self.when_safe(ack)
            return
        self.mapped += 1
        self.on_sample(sample)
        if qos > 0:
            acks.append((mid, qos, connection))

    def _sample_or_dead_letter(
        self, topic: str, payload: bytes, ack: Callable[[], None]
    ) -> Sample | None:
        now = self.clock.now()
        route = self.by_topic.get(topic)
        if route is not None:
            self.heard(route.device.id)
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
        if route is None:
            self.dead_letters.keep(topic, payload, now, "no device for topic", then=ack)
            return None
        try:
            mapped = route.payload_map.map(payload)
        except NoKnownValue as exc:
            self._bad_quality(route, exc.unknown)
            self.dead_letters.keep(topic, payload, now, str(exc), then=ack)
            return None
        except PayloadError as exc:
            self.dead_letters.keep(topic, payload, now, str(exc), then=ack)
            return None
        except (ValueError, TypeError, ArithmeticError) as exc:
            # A payload shape the mapping did not foresee is still the payload's fault.
            reason = f"unmappable: {type(exc).__name__}: {exc}"
            self.dead_letters.keep(topic, payload, now, reason, then=ack)
            return None
        device_id = route.device.id
        if mapped.unknown:
            self._bad_quality(route, mapped.unknown)
        pm = route.payload_map
        return Sample(
            self.site_id,
            route.asset_id,
            device_id,
            pm.profile.kind,
            mapped.at or now,
            mapped.values,
            pm.units,
        )

    def _bad_quality(self, route: Route, unknown: dict[str, str]) -> None:
        """A value the profile's map does not know: that field is bad quality (not stored, shown
        as unknown), counted by device and field; each new value is logged once."""
        device_id = route.device.id
        for name, why in unknown.items():
            self.unknown_values[device_id, name] += 1
            if len(self._unknown_logged) < UNKNOWN_LOGGED_MAX and (
                (key := (device_id, why)) not in self._unknown_logged
            ):
                self._unknown_logged.add(key)
                log.warning(
                    "MQTT device %s: %s; field %s marked bad quality, the other fields kept "
                    "(add the value to the profile's map)",
                    device_id,
                    why,
                    name,
                )
        if self.on_bad_quality is not None:
            self.on_bad_quality(route.asset_id, list(unknown))


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
