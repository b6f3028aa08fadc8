"""Run the simulated devices of a site: Modbus servers per host:port, MQTT, a scenario."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from contextlib import AsyncExitStack
from datetime import datetime

from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection
from propwatch.profiles import ModbusProfile, MqttProfile
from propwatch.site import Device, Site
from simulators.access_controller import AccessController
from simulators.modbus_server import CommFault, ModbusSimServer, SimulatedModbusDevice
from simulators.model import DeviceModel
from simulators.pump import WaterPump
from simulators.scenario import Scenario, Step

log = logging.getLogger(__name__)


class UnsupportedDevice(ValueError):
    """No simulator model exists for a device's profile kind."""


def build_model(device: Device, kind: str, site: Site, start: datetime) -> DeviceModel:
    tz = site.spec.site.tz
    seed = f"{site.id}/{device.id}"
    if kind == "water_pump":
        return WaterPump(seed, tz, start)
    if kind == "access_controller":
        return AccessController(device.id, seed, tz, start)
    raise UnsupportedDevice(f"no simulator for device kind {kind!r} (device {device.id})")


class Fleet:
    """Every simulated device of a site, started and stopped together."""

    def __init__(
        self,
        site: Site,
        clock: Clock,
        mqtt_url: str | None = None,
        scenario: Scenario | None = None,
        mqtt_step_seconds: float = 0.5,
    ) -> None:
        self.site = site
        self.clock = clock
        self.mqtt_url = mqtt_url
        self.scenario = scenario
        self.mqtt_step_seconds = mqtt_step_seconds
        self.start_time = clock.now()
        self.models: dict[str, DeviceModel] = {}
        self.modbus: dict[str, SimulatedModbusDevice] = {}
        self.mqtt_devices: dict[str, tuple[AccessController, MqttProfile]] = {}
        self.applied_steps: list[Step] = []
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._mqtt: MqttConnection | None = None
        self.published = 0

    async def __aenter__(self) -> Fleet:
        groups: dict[tuple[str, int], list[SimulatedModbusDevice]] = defaultdict(list)
        for device in self.site.spec.devices:
            profile = self.site.profiles[device.profile]
            model = build_model(device, profile.kind, self.site, self.start_time)
            self.models[device.id] = model
            if isinstance(profile, ModbusProfile):
                sim = SimulatedModbusDevice(device.unit_id, profile, model, self.clock)
                self.modbus[device.id] = sim
                groups[(device.host, device.port)].append(sim)
            elif isinstance(model, AccessController):
                self.mqtt_devices[device.id] = (model, profile)
        for (host, port), sims in groups.items():
            await self._stack.enter_async_context(ModbusSimServer(host, port, sims))
        if self.mqtt_devices:
            if not self.mqtt_url:
                raise ValueError("the site has MQTT devices but no MQTT broker URL was given")
            self._mqtt = MqttConnection(self.mqtt_url, f"propwatch-sim-{self.site.id}")
            self._mqtt.start()
            await self._mqtt.wait_connected()
            self._tasks.append(asyncio.create_task(self._publish_loop()))
        if self.scenario is not None:
            self._tasks.append(asyncio.create_task(self._play(self.scenario)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._mqtt is not None:
            self._mqtt.stop()
        await self._stack.aclose()

    def apply(self, step: Step) -> None:
        """Apply one scenario step or control command now."""
        if step.device not in self.models:
            raise KeyError(f"no simulated device {step.device!r}")
        model = self.models[step.device]
        if step.fault:
            model.inject(step.fault, step.params)
        elif step.clear:
            model.clear(None if step.clear == "all" else step.clear)
        elif step.comm:
            sim = self.modbus.get(step.device)
            if sim is None:
                model.inject("silent", {}) if step.comm == "silent" else model.clear("silent")
            else:
                sim.comm_fault = CommFault(step.comm)
                sim.slow_seconds = float(step.params.get("seconds", sim.slow_seconds))
        self.applied_steps.append(step)
        log.info("scenario: %s %s", step.device, step.fault or step.clear or step.comm)

    async def _play(self, scenario: Scenario) -> None:
        for step in sorted(scenario.steps, key=lambda s: s.when(self.start_time)):
            wait = (step.when(self.start_time) - self.clock.now()).total_seconds()
            await self.clock.sleep(wait)
            self.apply(step)

    async def _publish_loop(self) -> None:
        assert self._mqtt is not None
        while True:
            now = self.clock.now()
            for device_id, (model, profile) in self.mqtt_devices.items():
                topic = profile.topic.replace("{device}", device_id)
                for payload in model.step(now):
                    self._mqtt.publish(topic, payload, qos=1)
                    self.published += 1
            await self.clock.sleep(self.mqtt_step_seconds)
