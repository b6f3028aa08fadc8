"""The gateway supervisor: pollers, MQTT ingestion, rules, telemetry writer, alarm publishing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections import defaultdict
from typing import Any

from gateway.commands import CommandRunner
from gateway.conditions import ConditionStore
from gateway.dead_letters import DeadLetters
from gateway.event_publisher import EventPublisher
from gateway.metrics import MetricsServer, gateway_exposition
from gateway.modbus.connection import ModbusConnection, link_key
from gateway.modbus.link import LinkPoller
from gateway.modbus.poller import ModbusDevicePoller
from gateway.mqtt_ingest import MqttIngest
from gateway.mqtt_session import SessionHolder, gateway_client_id
from gateway.outbox import Outbox
from gateway.readings import ReportByException, Sample, site_policies
from gateway.rules.engine import RuleEngine
from gateway.sinks import TelemetrySink
from gateway.sinks.influx import InfluxSink
from gateway.sinks.local_store import LocalStore
from gateway.writer import TelemetryWriter
from propwatch.clock import Clock
from propwatch.config_file import ConfigError
from propwatch.events import (
    ActiveCondition,
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
from propwatch.site import Device, Site, load_site

log = logging.getLogger(__name__)

STOP_POLLING_WITHIN = 3.0
"""Seconds a stop or reload waits for link pollers to end; one still running after that is
logged and left behind (its connection closed), so neither ever hangs on a device."""


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
        # Store and forward: queue -> sink, or the durable outbox while the sink is down.
        self.outbox = Outbox(
            settings.var_dir / "outbox.db",
            max_bytes=settings.gateway_outbox_max_bytes,
            sync=settings.gateway_outbox_sync,
        )
        self.writer = TelemetryWriter(
            self.sink,
            clock,
            self.outbox,
            capacity=settings.gateway_queue_capacity,
            batch_size=settings.gateway_batch_size,
            flush_interval=settings.gateway_flush_interval,
        )
        self.report = (
            ReportByException(site_policies(site, settings.gateway_heartbeat))
            if settings.gateway_report_by_exception
            else None
        )
        self.rules = RuleEngine(site)
        client_id = gateway_client_id(site.id, settings.instance_id)
        self.mqtt = MqttConnection(
            mqtt_url,
            client_id,
            clean_start=False,
            manual_ack=True,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        )
        self.session = SessionHolder(site.id, client_id, self.mqtt, clock)
        self.dead_letters = DeadLetters(settings.var_dir / "dead_letters.db", clock=clock)
        self.events = EventPublisher(self.outbox, self.mqtt, clock)
        # 遥控: commands from propwatch/<site>/gateway/commands, written ahead of the polls
        self.commands = CommandRunner(lambda: self.site, self._poller_of, self.mqtt, clock)
        self.metrics_server: MetricsServer | None = None
        self.pollers: list[ModbusDevicePoller] = []
        self.connections: dict[tuple[str, int], ModbusConnection] = {}
        self.links: dict[tuple[str, int], LinkPoller] = {}
        self.links_left_running = 0
        self.ingest: MqttIngest | None = None
        self.alarms_published = 0
        self.state_interval = state_interval
        self._last_state: dict[str, float] = defaultdict(lambda: float("-inf"))
        self._latest: dict[str, dict[str, Any]] = defaultdict(dict)
        self._online: dict[str, bool] = {}
        # 通信中断 episodes by device, as the asset snapshot lists them
        self._offline: dict[str, ActiveCondition] = {}
        self.conditions = ConditionStore(settings.var_dir / "conditions.db")
        self.conditions_restored = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.reloads = 0
        self.reload_failures = 0
        self._asset_by_device: dict[str, str] = {}
        self._asset_by_device_of: Site | None = None
        self._build()
        self._restore_conditions()

    def _restore_conditions(self) -> None:
        """Reopen the episodes held when the gateway last stopped (see gateway/conditions.py);
        those no rule holds any more are let go, and the first snapshot no longer lists them."""
        for asset_id, condition in self.conditions.load():
            if "/comm/" in condition.episode_id and condition.device_id is not None:
                self._offline[condition.device_id] = condition
                self._online[condition.device_id] = False
            elif not self.rules.restore(asset_id, condition):
                self.conditions.drop(condition.episode_id)
                continue
            self.conditions_restored += 1

    def _forget_unheld_conditions(self) -> None:
        """After a reload: a changed or removed rule has dropped its episode; so does the store."""
        held = {
            c.episode_id for a in self.site.spec.assets for c in self.rules.conditions(a.id)
        } | {c.episode_id for c in self._offline.values()}
        for _, condition in self.conditions.load():
            if condition.episode_id not in held:
                self.conditions.drop(condition.episode_id)

    def _asset_of(self, device_id: str) -> str:
        """The (first) asset a device serves; looked up for every snapshot, so kept in a map
        built once per site (a scan of every asset cost O(assets) per offline device)."""
        if self._asset_by_device_of is not self.site:
            self._asset_by_device = {}
            for asset in reversed(self.site.spec.assets):
                if asset.device is not None:
                    self._asset_by_device[asset.device] = asset.id
            self._asset_by_device_of = self.site
        return self._asset_by_device.get(device_id, device_id)

    def _poller_of(self, device_id: str) -> ModbusDevicePoller | None:
        return next((p for p in self.pollers if p.device.id == device_id), None)

    def _build(self) -> None:
        for device in self.site.spec.devices:
            profile = self.site.profiles[device.profile]
            if isinstance(profile, ModbusProfile) and device.protocol != "mqtt":
                self.pollers.append(self._make_poller(device, profile, self._asset_of(device.id)))
            elif not isinstance(profile, MqttProfile):
                log.warning(
                    "device %s: protocol %s is not polled by this gateway",
                    device.id,
                    device.protocol,
                )
        if mqtt_devices := self._mqtt_devices():
            self.ingest = self._make_ingest(mqtt_devices)

    def _mqtt_devices(self) -> list[tuple[Device, str, MqttProfile]]:
        return [
            (device, self._asset_of(device.id), profile)
            for device in self.site.spec.devices
            if isinstance(profile := self.site.profiles[device.profile], MqttProfile)
        ]

    def _make_ingest(self, devices: list[tuple[Device, str, MqttProfile]]) -> MqttIngest:
        return MqttIngest(
            self.site.id,
            devices,
            self.mqtt,
            self.clock,
            self.dead_letters,
            self.on_sample,
            when_safe=self.writer.when_safe,
            on_online_change=self.on_online_change,
            hurry=self.writer.hurry,
            receive_window=self.settings.gateway_mqtt_receive_window,
            on_bad_quality=self.on_bad_quality,
        )

    def _make_poller(
        self, device: Device, profile: ModbusProfile, asset_id: str
    ) -> ModbusDevicePoller:
        """A poller on the shared connection of its host:port (or serial line)."""
        key = link_key(device)
        conn = self.connections.get(key)
        if conn is None:
            conn = self.connections[key] = ModbusConnection.for_device(device)
            self.links[key] = LinkPoller(conn, self.clock)
        comm = self.rules.communication_rule(asset_id)
        poller = ModbusDevicePoller(
            self.site.id,
            asset_id,
            device,
            profile,
            conn,
            self.clock,
            self.on_sample,
            self.on_online_change,
            offline_after=comm.offline_after if comm else 3,
            online_after=comm.online_after if comm else 2,
            phase=random.Random(device.id).uniform(0, device.poll_interval),
            dead_letters=self.dead_letters,
        )
        self.links[key].add(poller)
        return poller

    def _watch_silence(self, ingest: MqttIngest) -> None:
        """通信中断 of MQTT devices: the silence watch runs as long as the gateway."""
        self._tasks.append(asyncio.create_task(ingest.watch_silence(), name="mqtt-silence"))

    async def _stop_links(self, keys: list[tuple[str, int]]) -> None:
        """Stop these links' pollers, waiting `STOP_POLLING_WITHIN` at most: a task that
        does not end by then is counted and logged, and its connection closed under it."""
        tasks = {k: t for k in keys if k in self.links and (t := self.links[k].stop()) is not None}
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks.values(), timeout=STOP_POLLING_WITHIN)
        for key, task in tasks.items():
            if task in pending:
                self.links_left_running += 1
                log.error("link %s:%s did not stop within %.0f s", *key, STOP_POLLING_WITHIN)
                self.connections[key].close()

    async def reload(self, site: Site) -> dict[str, int]:
        """Apply a changed site file while running: pollers of added, removed or changed
        devices start and stop; unchanged pollers, unchanged rules' states, the telemetry queue
        and the outbox carry on untouched, so nothing buffered is lost."""
        self.site = site
        kept_rules, new_rules = self.rules.rebuild(site)
        if self.report is not None:  # deadbands and heartbeats follow the new profiles
            self.report.policies = site_policies(site, self.settings.gateway_heartbeat)
        current = {p.device.id: p for p in self.pollers}
        wanted: dict[str, tuple[Device, ModbusProfile, str]] = {}
        for device in site.spec.devices:
            profile = site.profiles[device.profile]
            if isinstance(profile, ModbusProfile) and device.protocol != "mqtt":
                wanted[device.id] = (device, profile, self._asset_of(device.id))
        going: list[ModbusDevicePoller] = []
        for device_id, poller in current.items():
            spec = wanted.get(device_id)
            same = spec is not None and (poller.device, poller.profile, poller.asset_id) == spec
            if same:
                comm = self.rules.communication_rule(poller.asset_id)
                poller.offline_after = comm.offline_after if comm else 3
                poller.online_after = comm.online_after if comm else 2
                continue
            going.append(poller)
        running = {p.device.id for p in self.pollers} - {p.device.id for p in going}
        coming = [spec for device_id, spec in wanted.items() if device_id not in running]
        # The links that gain or lose a unit stop and start again with their new units; the
        # other links, and the schedules of the units that stay, carry on untouched.
        touched = {link_key(p.device) for p in going} | {link_key(d) for d, _, _ in coming}
        await self._stop_links(sorted(touched & self.links.keys()))
        for poller in going:
            key = link_key(poller.device)
            self.links[key].remove(poller.device.id)
            self.pollers.remove(poller)
        for device, profile, asset_id in coming:
            self.pollers.append(self._make_poller(device, profile, asset_id))
        for key in [k for k, link in self.links.items() if not link.pollers]:
            del self.links[key]
            self.connections.pop(key).close()
        if self._tasks:  # already started
            for key in sorted(touched & self.links.keys()):
                self.links[key].start()
        stopped, started = len(going), len(coming)
        topics_added = topics_removed = 0
        mqtt_devices = self._mqtt_devices()
        if self.ingest is not None:
            topics_added, topics_removed = self.ingest.update(mqtt_devices)
        elif mqtt_devices:
            self.ingest = self._make_ingest(mqtt_devices)
            topics_added = len(self.ingest.by_topic)
            if self._tasks:  # already started; otherwise __aenter__ starts it
                self.ingest.start()
                self._watch_silence(self.ingest)
        self._forget_unheld_conditions()
        self.publish_all_states()
        self.reloads += 1
        summary = {
            "pollers_stopped": stopped,
            "pollers_started": started,
            "rules_kept": kept_rules,
            "rules_new": new_rules,
            "mqtt_topics_added": topics_added,
            "mqtt_topics_removed": topics_removed,
        }
        log.info("site %s reloaded: %s", site.id, summary)
        return summary

    async def reload_from_file(self) -> dict[str, int] | None:
        """SIGHUP: re-read the site file; a broken file is reported and the running
        configuration stays in force. Reading and validating it is disk and CPU work (a large
        file, profiles beside it), done in a thread so polling never waits for it."""
        try:
            site = await asyncio.to_thread(load_site, self.site.path)
        except ConfigError as exc:
            self.reload_failures += 1
            log.error("site file not reloaded:\n  %s", "\n  ".join(exc.problems))
            return None
        return await self.reload(site)

    def _on_sighup(self) -> None:
        async def reload() -> None:
            await self.reload_from_file()

        self._tasks.append(asyncio.create_task(reload(), name="site-reload"))

    async def __aenter__(self) -> Gateway:
        self._loop = asyncio.get_running_loop()
        if self.ingest is not None:
            self.ingest.start()
        # Every (re)connect republishes each asset's snapshot: a broker that lost its retained
        # messages, or a maintenance side that missed them, converges again.
        self.mqtt.on_connected = self._on_broker_connected
        self.publish_all_states()
        self.commands.start()
        self.mqtt.start()
        try:
            await self.mqtt.wait_connected()
        except ConnectionError as exc:
            # Polling and telemetry do not need the broker; alarms wait in the outbox's priority
            # lane and paho keeps reconnecting, so a broker down at boot delays, never stops.
            log.warning("%s; starting anyway, alarm events are queued on disk", exc)
        self._tasks.append(asyncio.create_task(self.writer.run(), name="telemetry-writer"))
        self._tasks.append(asyncio.create_task(self.events.run(), name="event-publisher"))
        if self.settings.gateway_metrics_port is not None:
            self.metrics_server = await MetricsServer(
                self.settings.gateway_metrics_host,
                self.settings.gateway_metrics_port,
                lambda: gateway_exposition(self),
                self.health,
            ).__aenter__()
        for link in self.links.values():
            link.start()
        if self.ingest is not None:
            self._watch_silence(self.ingest)
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (NotImplementedError, RuntimeError, ValueError):
            log.debug("SIGHUP reload is unavailable here (not the main thread)")
        log.info(
            "gateway for %s: %d Modbus devices, %d MQTT devices, sink %s",
            self.site.id,
            len(self.pollers),
            len(self.ingest.by_topic) if self.ingest else 0,
            self.sink.name,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await self._stop_links(list(self.links))
        await self.commands.stop()
        for t in reversed(self._tasks):
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
        for conn in self.connections.values():
            conn.close()
        if self.metrics_server is not None:
            await self.metrics_server.__aexit__()
        if self.mqtt.connected.is_set():
            # paho raises when the publish could not even be queued: nothing more to do then.
            with contextlib.suppress(RuntimeError, ValueError):
                await asyncio.to_thread(self.session.release().wait_for_publish, 2.0)
        await asyncio.to_thread(self.mqtt.stop)
        await self.sink.close()
        await asyncio.to_thread(self.outbox.close)
        await asyncio.to_thread(self.dead_letters.close)
        self.conditions.close()

    def _on_broker_connected(self) -> None:
        """From paho's network thread."""
        self.session.connected()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.publish_all_states)

    def publish_all_states(self) -> None:
        for asset in self.site.spec.assets:
            self.publish_state(asset.id, asset.device)

    def on_sample(self, sample: Sample) -> None:
        reported = self.report.filter(sample) if self.report is not None else sample
        if reported is not None:
            self.writer.offer(reported)
        self._latest[sample.asset_id].update(sample.values)
        events = self.rules.evaluate(sample)
        for event in events:
            self.publish_alarm(event)
        now = self.clock.monotonic()
        # The snapshot follows every change of the asset's conditions at once, so the retained
        # state never lags behind the alarms; otherwise it refreshes every `state_interval`.
        if events or now - self._last_state[sample.asset_id] >= self.state_interval:
            self.publish_state(sample.asset_id, sample.device_id)

    def on_bad_quality(self, asset_id: str, metrics: list[str]) -> None:
        """Values a device sent that its profile cannot read: the asset's state shows them as
        unknown (None) until a good value comes, rather than the last good one."""
        self._latest[asset_id].update(dict.fromkeys(metrics))

    def on_online_change(self, device_id: str, online: bool, reason: str) -> None:
        asset_id = self._asset_of(device_id)
        self._online[device_id] = online
        held = self._offline.get(device_id)
        if (online and held is None) or (not online and held is not None):
            # first contact, or still offline since before a restart: nothing new to tell
            self.publish_state(asset_id, device_id)
            return
        comm = self.rules.communication_rule(asset_id)
        now = self.clock.now()
        if held is None:
            held = ActiveCondition(
                episode_id=f"{self.site.id}/{asset_id}/comm/{device_id}/"
                f"{int(now.timestamp() * 1000)}",
                alarm_type=comm.alarm_type if comm else "communication_loss",
                severity=comm.severity if comm else Severity.MAJOR,
                rule_id=comm.id if comm else "communication",
                since=now,
                device_id=device_id,
                message=comm.message if comm else "设备通信中断",
            )
        event = AlarmEvent(
            site_id=self.site.id,
            occurred_at=now,
            action=AlarmAction.CLEAR if online else AlarmAction.RAISE,
            episode_id=held.episode_id,
            asset_id=asset_id,
            device_id=device_id,
            alarm_type=held.alarm_type,
            severity=held.severity,
            rule_id=held.rule_id,
            message=held.message if not online else "设备通信恢复",
            evidence={"reason": reason, **self._comm_evidence(device_id)},
        )
        if online:
            del self._offline[device_id]
        else:
            self._offline[device_id] = held
        self.publish_alarm(event)
        self.publish_state(asset_id, device_id)

    def _comm_evidence(self, device_id: str) -> dict[str, Any]:
        poller = next((p for p in self.pollers if p.device.id == device_id), None)
        watch = self.ingest.silence.get(device_id) if self.ingest is not None else None
        if poller is None and watch is not None:
            return {
                "silent_s": round(watch.silent_for(self.clock.monotonic()), 1),
                "offline_after_s": watch.allowed,
            }
        if poller is None:
            return {}
        h = poller.health
        return {
            "consecutive_failures": h.consecutive_failures,
            "errors": dict(h.errors),
            "offline_after": poller.offline_after,
        }

    def publish_alarm(self, event: AlarmEvent) -> None:
        log.info(
            "alarm %s %s on %s (%s)",
            event.action,
            event.alarm_type,
            event.asset_id,
            event.evidence.get("value", ""),
        )
        self.events.submit(alarm_topic(event.site_id, event.asset_id), event.model_dump_json())
        self.alarms_published += 1
        if event.action is AlarmAction.CLEAR:
            self.conditions.drop(event.episode_id)
            return
        self.conditions.hold(
            event.asset_id,
            ActiveCondition(
                episode_id=event.episode_id,
                alarm_type=event.alarm_type,
                severity=event.severity,
                rule_id=event.rule_id,
                since=event.occurred_at,
                device_id=event.device_id,
                message=event.message,
            ),
        )

    def publish_state(self, asset_id: str, device_id: str | None) -> None:
        """The asset's retained snapshot: online state, last values, and every open episode."""
        values = {k: v for k, v in self._latest[asset_id].items()}
        offline = [c for d, c in self._offline.items() if self._asset_of(d) == asset_id]
        conditions = [*self.rules.conditions(asset_id), *offline]
        self._last_state[asset_id] = self.clock.monotonic()
        event = AssetStateEvent(
            site_id=self.site.id,
            occurred_at=self.clock.now(),
            asset_id=asset_id,
            device_id=device_id,
            online=self._online.get(device_id, True) if device_id else True,
            values=values,
            active_alarms=[c.alarm_type for c in conditions],
            conditions=conditions,
        )
        self.events.submit(
            state_topic(self.site.id, asset_id), event.model_dump_json(), retain=True
        )

    def health(self) -> dict[str, Any]:
        problems = self.writer.problems() + self.dead_letters.problems()
        dead = self.dead_letters.stats()
        return {
            # degraded: working, but an operator must act (e.g. free the outbox's disk)
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "mqtt_connected": self.mqtt.connected.is_set(),
            "sink": self.sink.name,
            "samples_accepted": self.writer.stats.accepted,
            "samples_written": self.writer.stats.written,
            "samples_dropped": self.writer.stats.dropped,
            "queue_depth": self.writer.queue_depth,
            "sink_direct": self.writer.direct,
            "samples_held": self.writer.held_points,
            "outbox": self.outbox.describe(),
            "outbox_storage_error": self.writer.storage_error,
            "events_pending": self.events.pending,
            "events_held_in_memory": self.events.held,
            "event_storage_errors": self.events.storage_errors,
            "condition_write_errors": self.conditions.write_errors,
            "dead_letters": self.dead_letters.count,
            "dead_letter_store": dead.__dict__,
            "alarms_published": self.alarms_published,
            "commands": {**self.commands.counts.__dict__},
            "devices": {
                p.device.id: {
                    "online": p.health.online,
                    "errors": p.health.errors,
                    "latency_s": round(p.health.last_latency_s, 4),
                    "lag_s": round(p.health.last_lag_s, 4),
                    "polls": p.health.polls,
                    "failures": p.health.failures,
                }
                for p in self.pollers
            },
            "mqtt_devices": {
                device_id: {
                    "online": w.online,
                    "silent_s": round(w.silent_for(self.clock.monotonic()), 1),
                    "offline_after_s": w.allowed,
                    "messages": w.messages,
                }
                for device_id, w in (self.ingest.silence.items() if self.ingest else [])
            },
        }
