"""遥控 at the gateway: take commands from the site's command topic, write them to the device
ahead of its link's polls, read back and answer.

A command waits only for the poll in progress on its link: it asks for the link's `turn`, and
the lock serves waiters in arrival order, so the link task's next poll queues behind it. Before
writing, and again once it holds the link, the command's `expires_at` is compared with the
gateway's clock; one past it is never executed (`expired`), whatever the broker's persistent
session kept for a gateway that was away. A device known offline is not written (`failed`, with
the poll's last error), nor is a point the gateway's own profile does not allow (`refused`).

A message is acknowledged once its result is handed to paho (QoS 1); a redelivery of a command
already answered in this process gets the same answer again without a second write.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from pydantic import ValidationError

from gateway.modbus.connection import ModbusError
from gateway.modbus.poller import ModbusDevicePoller
from propwatch.clock import Clock
from propwatch.commands import (
    DONE,
    EXPIRED,
    FAILED,
    REFUSED,
    CommandRefused,
    CommandResult,
    DeviceCommand,
    checked_value,
    command_topic,
    read_back_matches,
    result_topic,
    writable_point,
)
from propwatch.mqtt import MqttConnection
from propwatch.profiles import DataType
from propwatch.registers import decode, encode
from propwatch.site import Site

log = logging.getLogger(__name__)

_WHY = {
    "timeout": "设备无应答",
    "connection": "连接中断",
    "connect": "无法连接设备",
    "exception": "设备拒绝或返回异常",
}

REMEMBERED = 1000
"""Answers kept for redeliveries of commands already executed."""


@dataclass
class CommandCounts:
    received: int = 0
    done: int = 0
    failed: int = 0
    expired: int = 0
    refused: int = 0
    malformed: int = 0
    repeated: int = 0
    last_error: str = ""
    by_function: dict[int, int] = field(default_factory=dict)


class CommandRunner:
    """Subscribes to `propwatch/<site>/gateway/commands` and executes what arrives there."""

    def __init__(
        self,
        site: Callable[[], Site],
        pollers: Callable[[str], ModbusDevicePoller | None],
        mqtt: MqttConnection,
        clock: Clock,
    ) -> None:
        self.site = site
        self.pollers = pollers
        self.mqtt = mqtt
        self.clock = clock
        self.counts = CommandCounts()
        self.topic = command_topic(site().id)
        self._answers: OrderedDict[int, CommandResult] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Before the connection starts: the subscription is then sent on every connect."""
        self._loop = asyncio.get_running_loop()
        self.mqtt.client.message_callback_add(self.topic, self._from_paho_thread)
        self.mqtt.subscribe(self.topic, qos=1)

    async def stop(self) -> None:
        """Commands under way end with the links; their messages stay unacknowledged."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _from_paho_thread(
        self, client: paho.Client, userdata: object, msg: paho.MQTTMessage
    ) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        arrival = (bytes(msg.payload), msg.mid, msg.qos, self.mqtt.connection_number)
        loop.call_soon_threadsafe(self._arrived, *arrival)

    def _arrived(self, payload: bytes, mid: int, qos: int, connection: int) -> None:
        task = asyncio.create_task(self._handle(payload, mid, qos, connection), name="command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, payload: bytes, mid: int, qos: int, connection: int) -> None:
        self.counts.received += 1
        try:
            command = DeviceCommand.model_validate_json(payload)
        except ValidationError as exc:
            self.counts.malformed += 1
            log.warning("malformed command dropped: %s", exc.errors()[0]["msg"])
            self._ack(mid, qos, connection)
            return
        result = self._answers.get(command.command_id)
        if result is not None:
            self.counts.repeated += 1
        else:
            result = await self.execute(command)
            self._remember(result)
        self.mqtt.publish(
            result_topic(command.site_id, command.asset_id), result.model_dump_json(), qos=1
        )
        self._ack(mid, qos, connection)

    def _ack(self, mid: int, qos: int, connection: int) -> None:
        if qos > 0:
            self.mqtt.ack(mid, qos, connection)

    def _remember(self, result: CommandResult) -> None:
        self._answers[result.command_id] = result
        while len(self._answers) > REMEMBERED:
            self._answers.popitem(last=False)

    def _result(
        self, command: DeviceCommand, state: str, reason: str = "", read_back: object = None
    ) -> CommandResult:
        counted = {DONE: "done", FAILED: "failed", EXPIRED: "expired", REFUSED: "refused"}[state]
        setattr(self.counts, counted, getattr(self.counts, counted) + 1)
        if state != DONE:
            self.counts.last_error = reason
            log.warning(
                "command %d to %s: %s %s", command.command_id, command.asset_id, state, reason
            )
        return CommandResult.model_validate(
            {
                "command_id": command.command_id,
                "site_id": command.site_id,
                "asset_id": command.asset_id,
                "state": state,
                "read_back": read_back,
                "reason": reason[:500],
                "at": self.clock.now(),
            }
        )

    def _expired(self, command: DeviceCommand) -> CommandResult | None:
        now = self.clock.now()
        if now < command.expires_at:
            return None
        late = (now - command.expires_at).total_seconds()
        return self._result(command, EXPIRED, f"命令已过有效期 {late:.0f} 秒，网关未执行")

    async def execute(self, command: DeviceCommand) -> CommandResult:
        """Check, write, read back: the result to publish."""
        if (expired := self._expired(command)) is not None:
            return expired
        site = self.site()
        if command.site_id != site.id:
            return self._result(
                command, REFUSED, f"本网关服务小区 {site.id}，不是 {command.site_id}"
            )
        asset = next((a for a in site.spec.assets if a.id == command.asset_id), None)
        if asset is None or asset.device is None:
            return self._result(command, REFUSED, f"本网关没有设备 {command.asset_id}")
        poller = self.pollers(asset.device)
        if poller is None:
            return self._result(command, REFUSED, f"设备 {asset.name} 不经本网关的 Modbus 轮询")
        try:
            point = writable_point(poller.profile, command.point)
            value = checked_value(point, command.value)
        except CommandRefused as exc:
            return self._result(command, REFUSED, exc.message)
        health = poller.health
        if health.online is False:
            return self._result(
                command, FAILED, f"设备 {asset.name} 通信中断，命令未执行（{health.last_error}）"
            )
        assert point.writable is not None
        back = poller.profile.point(point.writable.readback or point.name)
        device, conn = poller.device, poller.connection
        words = encode(point, value)
        remaining = (command.expires_at - self.clock.now()).total_seconds()
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                await conn.turn.acquire()
        except TimeoutError:
            return self._result(
                command, EXPIRED, "有效期内未能占用设备链路（链路忙或设备无应答），未执行"
            )
        try:
            if (expired := self._expired(command)) is not None:
                return expired
            values: list[int] | list[bool] = [bool(value)] if point.type is DataType.BOOL else words
            fc = await conn.write(
                point.function, point.address, values, device.unit_id, device.timeout
            )
            self.counts.by_function[fc] = self.counts.by_function.get(fc, 0) + 1
            raw = await conn.read(
                back.function, back.address, back.width, device.unit_id, device.timeout
            )
        except ModbusError as exc:
            why = _WHY.get(exc.kind, exc.kind)
            return self._result(command, FAILED, f"遥控设备 {asset.name} 失败：{why}（{exc}）")
        finally:
            conn.turn.release()
        got = decode(back, raw)
        if read_back_matches(point, back, value, got):
            return self._result(command, DONE, read_back=got)
        label = back.label or back.name
        return self._result(
            command, FAILED, f"回读「{label}」为 {got!r}，与命令值 {value!r} 不符", read_back=got
        )
