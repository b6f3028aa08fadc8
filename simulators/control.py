"""Runtime control of a running simulator: inject and clear faults without restarting it.

A Unix socket (owner-only, never a network port) takes one JSON request per line and answers
one JSON line. `propwatch simulate --site F inject DEVICE FAULT` is its client, so a tester or
the demo can break a device at any moment:

    {"op": "inject", "device": "lift-1", "fault": "entrapment", "params": {}}
    {"op": "clear", "device": "lift-1", "fault": "all"}
    {"op": "comm", "device": "pump-1", "mode": "slow", "params": {"seconds": 3}}
    {"op": "status"}

From a shell:

    propwatch simulate --site site.yaml inject lift-1 entrapment
    propwatch simulate --site site.yaml inject pump-1 bearing_drift --param per_day=8
    propwatch simulate --site site.yaml comm pump-1 slow --seconds 3
    propwatch simulate --site site.yaml clear lift-1
    propwatch simulate --site site.yaml status
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from propwatch.messages import say
from simulators.scenario import Step

if TYPE_CHECKING:
    from propwatch.site import Site
    from simulators.fleet import Fleet

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024


class ControlError(RuntimeError):
    """The simulator refused a control request or could not be reached."""


def default_control_path(var_dir: Path, site_id: str) -> Path:
    return var_dir / f"simulate-{site_id}.sock"


def request_to_step(request: dict[str, Any]) -> Step:
    """Turn a control request into the same Step a scenario file would hold."""
    op = request.get("op")
    params = request.get("params") or {}
    device = request.get("device")
    if op == "inject":
        return Step(after=0, device=device, fault=request.get("fault"), params=params)
    if op == "clear":
        return Step(after=0, device=device, clear=request.get("fault") or "all")
    if op == "comm":
        return Step(after=0, device=device, comm=request.get("mode"), params=params)
    raise ValueError(f"unknown op {op!r}: use inject, clear, comm or status")


class ControlServer:
    """Serves control requests for one fleet on a Unix socket."""

    def __init__(self, path: Path, fleet: Fleet) -> None:
        self.path = path
        self.fleet = fleet
        self.handled = 0
        self.rejected = 0
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def __aenter__(self) -> ControlServer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            try:
                _, writer = await asyncio.open_unix_connection(str(self.path))
            except OSError:
                self.path.unlink()  # a stale socket from a killed run
            else:
                writer.close()
                raise ControlError(
                    f"另一个模拟器正在使用 {self.path} (another simulator of this site is running)"
                )
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES
        )
        os.chmod(self.path, 0o600)
        log.info("simulator control socket at %s", self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._clients.values():
                writer.close()  # the handler reads end-of-file and returns
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def handle(self, line: bytes) -> dict[str, Any]:
        """One request in, one answer out; bad input is answered, never raised."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            if request.get("op") == "status":
                answer: dict[str, Any] = {"ok": True, "status": self.fleet.status()}
            else:
                step = request_to_step(request)
                self.fleet.apply(step)
                answer = {"ok": True, "applied": step.model_dump(exclude_none=True)}
            self.handled += 1
            return answer
        except (ValueError, KeyError, ValidationError) as exc:
            self.rejected += 1
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return {"ok": False, "error": str(message)}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Known clients are closed at shutdown: cancelling them trips a 3.11 asyncio bug.
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self.handle(line), ensure_ascii=False).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            self.rejected += 1
        finally:
            self._clients.pop(task, None)
            writer.close()


async def send(path: Path, request: dict[str, Any], wait_seconds: float = 5.0) -> dict[str, Any]:
    """Send one control request to a running simulator and return its answer."""
    try:
        async with asyncio.timeout(wait_seconds):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST_BYTES)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(
            f"no simulator is listening on {path} (start `propwatch simulate --site ...`)"
        ) from exc
    try:
        writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        await writer.drain()
        async with asyncio.timeout(wait_seconds):
            line = await reader.readline()
    finally:
        writer.close()
    if not line:
        raise ControlError("the simulator closed the connection without answering")
    answer: dict[str, Any] = json.loads(line)
    return answer


def parse_params(items: list[str]) -> dict[str, Any]:
    """`--param per_day=3 --param circuit=2` into typed values (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param takes NAME=VALUE, not {item!r}")
        out[key] = yaml.safe_load(raw) if raw else ""
    return out


def request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The control request a `propwatch simulate ... ACTION` command line asks for."""
    if args.sim_action == "status":
        return {"op": "status"}
    # `clear` has no --param: the namespace of its sub-command carries none
    params = parse_params(getattr(args, "param", None) or [])
    if args.sim_action == "inject":
        return {"op": "inject", "device": args.device, "fault": args.fault, "params": params}
    if args.sim_action == "clear":
        return {"op": "clear", "device": args.device, "fault": args.fault or "all"}
    if args.seconds is not None:
        params["seconds"] = args.seconds
    return {"op": "comm", "device": args.device, "mode": args.mode, "params": params}


def device_faults(site: Site) -> list[tuple[str, str, str, list[tuple[str, str, str]]]]:
    """(device id, its name, its kind, [(fault, what it does, parameters)]) for every simulated
    device of the site: the catalogue `inject --help` and `status` show."""
    from simulators.faults import EFFECTS

    names: dict[str, list[str]] = {}
    for asset in site.spec.assets:
        if asset.device:
            names.setdefault(asset.device, []).append(asset.name)
    out = []
    for device in site.spec.devices:
        kind = site.profiles[device.profile].kind
        effects = EFFECTS.get(kind, {})
        faults = [(f, say(zh, en), params) for f, (zh, en, params) in effects.items()]
        out.append((device.id, " / ".join(names.get(device.id, [])), kind, faults))
    return out


def catalogue_text(site: Site | None, active: dict[str, list[str]] | None = None) -> str:
    """The site's devices and their faults as text; without a site, how to get it."""
    if site is None:
        return say(
            "加上 --site 列出该小区的设备和可注入的故障, 例如:\n"
            "  propwatch simulate --site examples/hexie-garden/site.yaml inject --help",
            "Add --site to list the site's devices and the faults they take, e.g.:\n"
            "  propwatch simulate --site examples/hexie-garden/site.yaml inject --help",
        )
    lines = [say(f"{site.spec.site.name} 的设备和故障:", f"devices and faults of {site.id}:")]
    for device_id, name, kind, faults in device_faults(site):
        now = (active or {}).get(device_id)
        state = ""
        if active is not None:
            state = say("  当前故障: ", "  active: ") + (", ".join(now) if now else "-")
        lines.append(f"  {device_id}  {name} ({kind}){state}")
        if not faults:
            lines.append(say("      (没有模拟器)", "      (not simulated)"))
        for fault, effect, params in faults:
            hint = f"  [--param {params.replace(' ', ' --param ')}]" if params else ""
            lines.append(f"      {fault:<18} {effect}{hint}")
    return "\n".join(lines)


def add_control_commands(sim: argparse.ArgumentParser, site: Site | None = None) -> None:
    """`propwatch simulate --site F inject|clear|comm|status ...` talk to a running simulator;
    with the site known, inject, clear and status list its devices and faults."""
    formatter = argparse.RawDescriptionHelpFormatter
    catalogue = catalogue_text(site)
    sim.add_argument(
        "--control",
        type=Path,
        help=say(
            "控制套接字 (默认 $PROPWATCH_VAR_DIR/simulate-<小区 id>.sock)",
            "control socket (default: $PROPWATCH_VAR_DIR/simulate-<site id>.sock)",
        ),
    )
    actions = sim.add_subparsers(
        dest="sim_action",
        metavar="ACTION",
        help=say("控制运行中的模拟器 (不带 ACTION 则运行模拟器)", "control a running simulator"),
    )
    what = say("向运行中的模拟设备注入故障", "inject a fault into a running simulated device")
    inject = actions.add_parser(
        "inject", help=what, description=what, epilog=catalogue, formatter_class=formatter
    )
    inject.add_argument("device", help=say("设备 id (见下表)", "device id (listed below)"))
    inject.add_argument("fault", help=say("故障名 (见下表)", "fault name (listed below)"))
    inject.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help=say("故障参数, 可重复 (见下表方括号)", "fault parameter, repeatable (see brackets)"),
    )
    what = say("清除设备的一个故障或全部故障", "clear one fault (or all) of a device")
    clear = actions.add_parser(
        "clear", help=what, description=what, epilog=catalogue, formatter_class=formatter
    )
    clear.add_argument("device", help=say("设备 id", "device id"))
    clear.add_argument(
        "fault", nargs="?", help=say("故障名, 或 all (默认)", "fault name, or all (the default)")
    )
    what = say(
        "通讯故障: Modbus 为 none, silent, exception, slow; MQTT 为 none, silent, malformed, "
        "truncated",
        "communication fault: none, silent, exception, slow (Modbus) or none, silent, "
        "malformed, truncated (MQTT)",
    )
    comm = actions.add_parser("comm", help=what, description=what)
    comm.add_argument("device", help=say("设备 id", "device id"))
    comm.add_argument("mode", help=say("通讯故障方式", "communication fault mode"))
    comm.add_argument(
        "--seconds", type=float, help=say("slow 的应答延迟 (秒)", "reply delay for slow")
    )
    comm.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help=say("参数", "parameter")
    )
    what = say("每台设备的当前故障和通讯状态", "faults and communication state of every device")
    status = actions.add_parser(
        "status", help=what, description=what, epilog=catalogue, formatter_class=formatter
    )
    status.add_argument(
        "--json", action="store_true", help=say("输出 JSON", "print the simulator's JSON answer")
    )


def run_client(args: argparse.Namespace, path: Path, site: Site | None = None) -> int:
    """Send the command line's request, print the answer; exit 0 only if it was applied."""
    try:
        request = request_from_args(args)
        answer = asyncio.run(send(path, request))
    except (ControlError, ValueError) as exc:
        print(say(f"模拟器控制失败: {exc}", f"control failed: {exc}"), file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(
            say(f"模拟器拒绝: {answer.get('error')}", f"refused: {answer.get('error')}"),
            file=sys.stderr,
        )
        return 1
    if "status" in answer:
        status = answer["status"]
        if getattr(args, "json", False):
            print(json.dumps(status, ensure_ascii=False, indent=2))
        else:
            active = {d: list(e.get("faults", [])) for d, e in status["devices"].items()}
            print(say(f"模拟时间 {status['now']}", f"simulated time {status['now']}"))
            print(catalogue_text(site, active))
    else:
        applied = answer["applied"]
        what = applied.get("fault") or applied.get("clear") or applied.get("comm")
        print(say("已执行", "applied") + f": {args.sim_action} {applied['device']} {what}")
    return 0
