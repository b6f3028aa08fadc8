"""The gateway supervisor: pollers, MQTT ingestion, rules, telemetry writer, alarm publishing."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from gateway.dead_letters import DeadLetters
from gateway.modbus.connection import ModbusConnection
from gateway.modbus.poller import ModbusDevicePoller
from gateway.mqtt_ingest import MqttIngest
from gateway.readings import Sample
from gateway.rules.engine import RuleEngine
from gateway.sinks import TelemetrySink
from gateway.sinks.influx import InfluxSink
from gateway.sinks.local_store import LocalStore
from gateway.writer import TelemetryWriter
from propwatch.clock import Clock
from propwatch.events import (
    AlarmAction,
    AlarmEvent,
    AssetStateEvent,
    Severity,
    alarm_topic,
    state_topic,
)
from propwatch.mqtt import MqttConnection
from propwatch.profiles import ModbusProfile, MqttProfile
from propwatch.settings import Settings
from propwatch.site import Site

log = logging.getLogger(__name__)


def make_sink(settings: Settings) -> TelemetrySink:
    """InfluxDB when `PROPWATCH_INFLUX_URL` is set, otherwise the embedded local store."""
    if settings.influx_url:
        return InfluxSink(
            settings.influx_url,
            settings.influx_token.get_secret_value(),
            settings.influx_org,
            settings.influx_bucket,
        )
    return LocalStore(settings.var_dir / "telemetry.db")


class Gateway:
    """`async with Gateway(...)` starts everything; leaving it flushes and stops cleanly."""

    def __init__(
        self,
        site: Site,
        settings: Settings,
        clock: Clock,
        mqtt_url: str,
        sink: TelemetrySink | None = None,
        state_interval: float = 10.0,
    ) -> None:
        self.site = site
        self.settings = settings
        self.clock = clock
        self.sink = sink or make_sink(settings)
        self.writer = TelemetryWriter(self.sink, clock)
        self.rules = RuleEngine(site)
        self.mqtt = MqttConnection(
            mqtt_url,
            f"propwatch-gateway-{site.id}",
            clean_start=False,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        )
        self.dead_letters = DeadLetters(settings.var_dir / "dead_letters.db")
        self.pollers: list[ModbusDevicePoller] = []
        self.connections: dict[tuple[str, int], ModbusConnection] = {}
        self.ingest: MqttIngest | None = None
        self.alarms_published = 0
        self.state_interval = state_interval
        self._last_state: dict[str, float] = defaultdict(lambda: float("-inf"))
        self._latest: dict[str, dict[str, Any]] = defaultdict(dict)
        self._online: dict[str, bool] = {}
        self._offline_episodes: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._build()

    def _asset_of(self, device_id: str) -> str:
        assets = self.site.spec.assets_of_device(device_id)
        return assets[0].id if assets else device_id

    def _build(self) -> None:
        mqtt_devices = []
        for device in self.site.spec.devices:
            profile = self.site.profiles[device.profile]
            asset_id = self._asset_of(device.id)
            if isinstance(profile, ModbusProfile) and device.protocol == "modbus_tcp":
                key = (device.host, device.port)
                conn = self.connections.get(key)
                if conn is None:
                    conn = self.connections[key] = ModbusConnection(
                        device.host, device.port, device.timeout
                    )
                self.pollers.append(
                    ModbusDevicePoller(
                        self.site.id,
                        asset_id,
                        device,
                        profile,
                        conn,
                        self.clock,
                        self.on_sample,
                        self.on_online_change,
                    )
                )
            elif isinstance(profile, MqttProfile):
                mqtt_devices.append((device, asset_id, profile))
            else:
                log.warning(
                    "device %s: protocol %s is not polled by this gateway",
                    device.id,
                    device.protocol,
                )
        if mqtt_devices:
            self.ingest = MqttIngest(
                self.site.id, mqtt_devices, self.mqtt, self.clock, self.dead_letters, self.on_sample
            )

    async def __aenter__(self) -> Gateway:
        if self.ingest is not None:
            self.ingest.start()
        self.mqtt.start()
        await self.mqtt.wait_connected()
        self._tasks.append(asyncio.create_task(self.writer.run(), name="telemetry-writer"))
        for p in self.pollers:
            self._tasks.append(asyncio.create_task(p.run(), name=f"poll-{p.device.id}"))
        log.info(
            "gateway for %s: %d Modbus devices, %d MQTT devices, sink %s",
            self.site.id,
            len(self.pollers),
            len(self.ingest.by_topic) if self.ingest else 0,
            self.sink.name,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in reversed(self._tasks):
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
        for conn in self.connections.values():
            conn.close()
        self.mqtt.stop()
        await self.sink.close()
        self.dead_letters.close()

    def on_sample(self, sample: Sample) -> None:
        self.writer.offer(sample)
        self._latest[sample.asset_id].update(sample.values)
        for event in self.rules.evaluate(sample):
            self.publish_alarm(event)
        now = self.clock.monotonic()
        if now - self._last_state[sample.asset_id] >= self.state_interval:
            self._last_state[sample.asset_id] = now
            self.publish_state(sample.asset_id, sample.device_id)

    def on_online_change(self, device_id: str, online: bool, reason: str) -> None:
        asset_id = self._asset_of(device_id)
        self._online[device_id] = online
        episode = f"{self.site.id}/{asset_id}/comm/{device_id}"
        if online and reason == "" and device_id not in self._offline_episodes:
            self.publish_state(asset_id, device_id)
            return
        if not online:
            self._offline_episodes[device_id] = (
                f"{episode}/{int(self.clock.now().timestamp() * 1000)}"
            )
        event = AlarmEvent(
            site_id=self.site.id,
            occurred_at=self.clock.now(),
            action=AlarmAction.CLEAR if online else AlarmAction.RAISE,
            episode_id=self._offline_episodes[device_id],
            asset_id=asset_id,
            device_id=device_id,
            alarm_type="communication_loss",
            severity=Severity.MAJOR,
            rule_id="communication",
            message="设备通信中断" if not online else "设备通信恢复",
            evidence={"reason": reason},
        )
        if online:
            del self._offline_episodes[device_id]
        self.publish_alarm(event)
        self.publish_state(asset_id, device_id)

    def publish_alarm(self, event: AlarmEvent) -> None:
        log.info(
            "alarm %s %s on %s (%s)",
            event.action,
            event.alarm_type,
            event.asset_id,
            event.evidence.get("value", ""),
        )
        self.mqtt.publish(
            alarm_topic(event.site_id, event.asset_id), event.model_dump_json(), qos=1
        )
        self.alarms_published += 1

    def publish_state(self, asset_id: str, device_id: str) -> None:
        values = {k: v for k, v in self._latest[asset_id].items()}
        event = AssetStateEvent(
            site_id=self.site.id,
            occurred_at=self.clock.now(),
            asset_id=asset_id,
            device_id=device_id,
            online=self._online.get(device_id, True),
            values=values,
            active_alarms=self.rules.active(asset_id),
        )
        self.mqtt.publish(
            state_topic(self.site.id, asset_id), event.model_dump_json(), qos=1, retain=True
        )

    def health(self) -> dict[str, Any]:
        return {
            "mqtt_connected": self.mqtt.connected.is_set(),
            "sink": self.sink.name,
            "samples_accepted": self.writer.stats.accepted,
            "samples_written": self.writer.stats.written,
            "samples_dropped": self.writer.stats.dropped,
            "queue_depth": self.writer.queue.qsize(),
            "dead_letters": self.dead_letters.count,
            "alarms_published": self.alarms_published,
            "devices": {
                p.device.id: {
                    "online": p.health.online,
                    "errors": p.health.errors,
                    "latency_s": round(p.health.last_latency_s, 4),
                }
                for p in self.pollers
            },
        }
