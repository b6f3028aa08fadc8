"""Fixtures for the simulator tests: a Modbus-only copy of the example site, and mbpoll."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from propwatch.site import Site, load_site
from tests.conftest import EXAMPLE_SITE
from tests.support.servers import free_port, require_binary

# "[18]: \t65535 (-1)": mbpoll adds the signed reading in brackets; we keep the unsigned one.
_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)(?:\s+\(-?\d+\))?\s*$")


def write_site(tmp_path: Path, mqtt: bool = False) -> Path:
    """The example site with every Modbus device behind one free port (unit ids 1..n)."""
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    port = free_port()
    unit = 0
    keep = []
    for d in doc["devices"]:
        if d["protocol"] == "modbus_tcp":
            unit += 1
            d.update(port=port, unit_id=unit)
        elif not mqtt:
            continue
        keep.append(d)
    doc["devices"] = keep
    ids = {d["id"] for d in keep}
    doc["assets"] = [a for a in doc["assets"] if a.get("device") in ids]
    assets = {a["id"] for a in doc["assets"]}
    kinds = {a["kind"] for a in doc["assets"]}
    doc["rules"] = [r for r in doc.get("rules", []) if r.get("asset_kind", "") in kinds | {""}]
    doc["plans"] = [
        p for p in doc.get("plans", []) if set(p.get("targets", {}).get("assets", [])) <= assets
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def modbus_site(tmp_path: Path) -> Site:
    return load_site(write_site(tmp_path))


@dataclass
class Mbpoll:
    """The Debian `mbpoll` Modbus master, an independent reader of our servers."""

    binary: str

    async def read(
        self, port: int, unit: int, ref: int, count: int, table: str, reply_timeout: float = 1.0
    ) -> dict[int, float]:
        """Read `count` values from PDU address `ref` (-0: 0-based, as in our profiles).
        `table`: 0 coils, 1 discrete inputs, 3 input registers, 3:float, 4 holding..."""
        args = ["-m", "tcp", "-p", str(port), "-a", str(unit), "-0", "-r", str(ref)]
        args += ["-c", str(count), "-t", table, "-o", str(reply_timeout), "-1"]
        if table.endswith(":float") or table.endswith(":int"):
            args.append("-B")  # big-endian word order: the profiles' ABCD
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            "127.0.0.1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise MbpollError(err.decode().strip() or f"mbpoll exited {proc.returncode}")
        values = {}
        for line in out.decode().splitlines():
            if m := _LINE.match(line):
                values[int(m.group(1))] = float(m.group(2))
        return values


class MbpollError(RuntimeError):
    """mbpoll could not read: the text says why (exception, timeout)."""


@pytest.fixture
def mbpoll() -> Mbpoll:
    return Mbpoll(require_binary("mbpoll"))
