"""Run the simulated devices of a site: Modbus servers per host:port, MQTT, a scenario."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from propwatch.clock import Clock
from propwatch.mqtt import MqttConnection
from propwatch.profiles import ModbusProfile, MqttProfile
from propwatch.site import Device, Site
from simulators.access_controller import AccessController
from simulators.control import ControlServer
from simulators.elevator import Elevator
from simulators.lighting import LightingPanel
from simulators.modbus_server import CommFault, ModbusSimServer, SimulatedModbusDevice
from simulators.model import DeviceModel, UnknownFault
from simulators.pump import WaterPump
from simulators.scenario import Scenario, Step

log = logging.getLogger(__name__)


# MQTT devices have no Modbus exception; their communication faults are payload faults.
MQTT_COMM = {
    "none": "",
    "silent": "silent",
    "malformed": "malformed_json",
    "truncated": "truncated_json",
}


MIN_REAL_STEP_SECONDS = 0.02


class UnsupportedDevice(ValueError):
    """No simulator model exists for a device's profile kind."""


def build_model(device: Device, kind: str, site: Site, start: datetime) -> DeviceModel:
    tz = site.spec.site.tz
    seed = f"{site.id}/{device.id}"
    if kind == "water_pump":
        return WaterPump(seed, tz, start)
    if kind == "access_controller":
        return AccessController(device.id, seed, tz, start)
    if kind == "elevator":
        return Elevator(seed, tz, start)
    if kind == "lighting_panel":
        info = site.spec.site
        return LightingPanel(seed, tz, start, info.latitude, info.longitude)
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
        control_path: Path | None = None,
    ) -> None:
        self.site = site
        self.clock = clock
        self.mqtt_url = mqtt_url
        self.scenario = scenario
        self.mqtt_step_seconds = mqtt_step_seconds
        self.control_path = control_path
        self.failed_steps = 0
        self.start_time = clock.now()
        self.models: dict[str, DeviceModel] = {}
        self.modbus: dict[str, SimulatedModbusDevice] = {}
        self.mqtt_devices: dict[str, tuple[AccessController, MqttProfile]] = {}
        self.applied_steps: list[Step] = []
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._mqtt: MqttConnection | None = None
        self.published = 0
        self._groups: dict[tuple[str, int], list[SimulatedModbusDevice]] = defaultdict(list)
        self.unsimulated: dict[str, str] = {}
        self._build()

    def _build(self) -> None:
        """Models and Modbus front-ends for every device, nothing listening yet."""
        for device in self.site.spec.devices:
            profile = self.site.profiles[device.profile]
            try:
                model = build_model(device, profile.kind, self.site, self.start_time)
            except UnsupportedDevice as exc:
                # A model added as a profile only: the real device answers, nothing to simulate.
                self.unsimulated[device.id] = profile.kind
                log.warning("%s; it is left out of the simulation", exc)
                continue
            self.models[device.id] = model
            if isinstance(profile, ModbusProfile):
                sim = SimulatedModbusDevice(device.unit_id, profile, model, self.clock)
                group = self._groups[(device.host, device.port)]
                clash = next(
                    (
                        d
                        for d, s in self.modbus.items()
                        if s in group and s.unit_id == device.unit_id
                    ),
                    None,
                )
                if clash:
                    raise ValueError(
                        f"devices {clash} and {device.id} both answer on "
                        f"{device.host}:{device.port} unit {device.unit_id}"
                    )
                self.modbus[device.id] = sim
                group.append(sim)
            elif isinstance(model, AccessController):
                self.mqtt_devices[device.id] = (model, profile)

    async def __aenter__(self) -> Fleet:
        if self.mqtt_devices and not self.mqtt_url:
            raise ValueError("the site has MQTT devices but no MQTT broker URL was given")
        if self.scenario is not None:
            self.check(self.scenario)  # before anything listens: a bad file starts nothing
        try:
            await self._start(self._groups)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start(self, groups: dict[tuple[str, int], list[SimulatedModbusDevice]]) -> None:
        for (host, port), sims in groups.items():
            await self._stack.enter_async_context(ModbusSimServer(host, port, sims))
        if self.mqtt_devices:
            assert self.mqtt_url is not None
            self._mqtt = MqttConnection(self.mqtt_url, f"propwatch-sim-{self.site.id}")
            self._mqtt.start()
            await self._mqtt.wait_connected()
            self._tasks.append(asyncio.create_task(self._publish_loop()))
        if self.scenario is not None:
            self._tasks.append(asyncio.create_task(self._play(self.scenario)))
        if self.control_path is not None:
            await self._stack.enter_async_context(ControlServer(self.control_path, self))

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._mqtt is not None:
            await asyncio.to_thread(self._mqtt.stop)
        await self._stack.aclose()

    def check(self, scenario: Scenario) -> None:
        """Refuse a scenario that names an unknown device, fault or communication mode."""
        problems = [p for step in scenario.steps if (p := self.problem(step))]
        if problems:
            raise ValueError(f"scenario {scenario.name!r}: " + "; ".join(problems))

    def problem(self, step: Step) -> str | None:
        """Why `step` cannot apply to this fleet, or None."""
        model = self.models.get(step.device)
        if model is None and step.device in self.unsimulated:
            kind = self.unsimulated[step.device]
            return f"{step.device} is a {kind}, for which no simulator exists"
        if model is None:
            return f"no simulated device {step.device!r} (known: {', '.join(self.models)})"
        known = model.FAULTS
        if step.fault and step.fault not in known:
            known_text = ", ".join(known)
            return f"{step.device} ({model.kind}) has no fault {step.fault!r}; known: {known_text}"
        if step.clear and step.clear != "all" and step.clear not in known:
            return f"{step.device} ({model.kind}) has no fault {step.clear!r} to clear"
        if step.comm:
            modes = [c.value for c in CommFault] if step.device in self.modbus else list(MQTT_COMM)
            if step.comm not in modes:
                return f"{step.device} takes comm {', '.join(modes)}, not {step.comm!r}"
        return None

    def apply(self, step: Step) -> None:
        """Apply one scenario step or control command now."""
        problem = self.problem(step)
        if problem:
            raise (KeyError if step.device not in self.models else UnknownFault)(problem)
        model = self.models[step.device]
        if step.fault:
            model.inject(step.fault, step.params)
        elif step.clear:
            model.clear(None if step.clear == "all" else step.clear)
        elif step.comm:
            sim = self.modbus.get(step.device)
            if sim is None:
                for fault in MQTT_COMM.values():
                    model.clear(fault)
                if MQTT_COMM[step.comm]:
                    model.inject(MQTT_COMM[step.comm], step.params)
            else:
                sim.comm_fault = CommFault(step.comm)
                sim.slow_seconds = float(step.params.get("seconds", sim.slow_seconds))
        self.applied_steps.append(step)
        if step.fault:
            log.info("fault: %s %s %s", step.device, step.fault, step.params or "")
        elif step.clear:
            log.info("clear: %s %s", step.device, step.clear)
        else:
            log.info("comm: %s %s", step.device, step.comm)

    def status(self) -> dict[str, Any]:
        """What each simulated device is doing: for `propwatch simulate status`."""
        devices: dict[str, Any] = {}
        for device_id, model in self.models.items():
            sim = self.modbus.get(device_id)
            entry: dict[str, Any] = {
                "kind": model.kind,
                "faults": sorted(model.faults),
                "known_faults": list(model.FAULTS),
            }
            if sim is not None:
                entry.update(comm=sim.comm_fault.value, requests=sim.requests)
            devices[device_id] = entry
        return {
            "site": self.site.id,
            "now": self.clock.now().isoformat(),
            "devices": devices,
            "unsimulated": self.unsimulated,
            "applied_steps": len(self.applied_steps),
            "failed_steps": self.failed_steps,
            "mqtt_published": self.published,
        }

    async def _play(self, scenario: Scenario) -> None:
        for step in sorted(scenario.steps, key=lambda s: s.when(self.start_time)):
            wait = (step.when(self.start_time) - self.clock.now()).total_seconds()
            await self.clock.sleep(wait)
            try:
                self.apply(step)
            except (KeyError, ValueError) as exc:
                # A bad step must not stop the rest of the timeline.
                self.failed_steps += 1
                log.error("scenario step failed: %s", exc)

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
            # At a week per minute a simulated half second is 50 µs: without a floor in real
            # time the loop would spin; each step then covers more simulated time instead.
            await asyncio.sleep(MIN_REAL_STEP_SECONDS)
