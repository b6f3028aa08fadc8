"""MQTT devices: map JSON payloads to samples by field paths; bad payloads go to dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho

from gateway.dead_letters import DeadLetters
from gateway.readings import Sample, Value
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
            raise PayloadError(f"{f.path}: value {raw!r} not in the profile's map")
        return f.map[key]
    if f.type == "bool":
        if not isinstance(raw, bool | int):
            raise PayloadError(f"{f.path}: expected a boolean, got {raw!r}")
        return bool(raw)
    if f.type == "string":
        return str(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PayloadError(f"{f.path}: expected a number, got {raw!r}")
    if f.type == "int":
        return int(raw * f.scale) if f.scale != 1.0 else int(raw)
    return float(raw) * f.scale


def map_payload(profile: MqttProfile, payload: bytes) -> tuple[dict[str, Value], datetime | None]:
    """Values by profile field name, and the device's own timestamp when it sends one."""
    if len(payload) > profile.max_payload_bytes:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {profile.max_payload_bytes}")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from exc
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
            raise PayloadError(f"{profile.timestamp_path}: bad timestamp {raw_ts!r}") from exc
        if ts.tzinfo is None:
            raise PayloadError(f"{profile.timestamp_path}: timestamp without a time zone")
    return values, ts


class MqttIngest:
    """Subscribes to every MQTT device of the site on its own connection (persistent session)."""

    def __init__(
        self,
        site_id: str,
        devices: list[tuple[Device, str, MqttProfile]],
        connection: MqttConnection,
        clock: Clock,
        dead_letters: DeadLetters,
        on_sample: Callable[[Sample], None],
    ) -> None:
        self.site_id = site_id
        self.clock = clock
        self.dead_letters = dead_letters
        self.on_sample = on_sample
        self.connection = connection
        self.received = 0
        self.by_topic: dict[str, tuple[Device, str, MqttProfile]] = {}
        for device, asset_id, profile in devices:
            self.by_topic[profile.topic.replace("{device}", device.id)] = (
                device,
                asset_id,
                profile,
            )
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.connection.on_message = self._from_paho_thread
        for topic in self.by_topic:
            self.connection.subscribe(topic, qos=1)

    def _from_paho_thread(self, msg: paho.MQTTMessage) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.handle, msg.topic, bytes(msg.payload))

    def handle(self, topic: str, payload: bytes) -> None:
        self.received += 1
        entry = self.by_topic.get(topic)
        if entry is None:
            self.dead_letters.keep(topic, payload, self.clock.now(), "no device for topic")
            return
        device, asset_id, profile = entry
        try:
            values, ts = map_payload(profile, payload)
        except PayloadError as exc:
            self.dead_letters.keep(topic, payload, self.clock.now(), str(exc))
            return
        units = {f.name: f.unit for f in profile.fields if f.unit}
        self.on_sample(
            Sample(
                self.site_id,
                asset_id,
                device.id,
                profile.kind,
                ts or self.clock.now(),
                values,
                units,
            )
        )
