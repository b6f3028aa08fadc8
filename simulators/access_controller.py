"""门禁控制器: door and card-reader events as JSON over MQTT, plus a heartbeat."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from simulators.model import UnknownFault, Value, bump, local_hour, make_rng

HELD_OPEN_SECONDS = 30.0


class AccessController:
    """People pass through a door all day; swipes are granted or (rarely) denied.

    Events: card_granted, card_denied, door_opened, door_closed, door_forced (强行开门),
    door_held_open (门长时间未关), tamper (防拆) and a heartbeat every `heartbeat_seconds`.
    Every payload carries the full state, so a lost event is corrected by the next one.
    """

    kind = "access_controller"
    FAULTS: ClassVar[tuple[str, ...]] = (
        "door_forced",
        "door_held_open",
        "tamper",
        "malformed_json",
        "truncated_json",
        "silent",
    )

    def __init__(
        self,
        device_id: str,
        seed: int | str,
        tz: ZoneInfo,
        start: datetime,
        heartbeat_seconds: float = 30.0,
    ) -> None:
        self.device_id = device_id
        self.rng = make_rng(seed)
        self.tz = tz
        self.last = start
        self.last_heartbeat = start
        self.heartbeat_seconds = heartbeat_seconds
        self.door_open = False
        self.granted = 0
        self.denied = 0
        self.faults: dict[str, dict[str, Any]] = {}
        self.close_at: datetime | None = None
        self.held_since: datetime | None = None
        self._announced: set[str] = set()

    def inject(self, fault: str, params: dict[str, Any]) -> None:
        if fault not in self.FAULTS:
            raise UnknownFault(
                f"access_controller has no fault {fault!r}; known: {', '.join(self.FAULTS)}"
            )
        self.faults[fault] = dict(params)
        self._announced.discard(fault)
        if fault == "door_held_open":
            self.held_since = None

    def clear(self, fault: str | None = None) -> None:
        if fault is None:
            self.faults.clear()
            self._announced.clear()
        else:
            self.faults.pop(fault, None)
            self._announced.discard(fault)
        if "door_held_open" not in self.faults:
            self.held_since = None
            if self.door_open and self.close_at is None:
                self.close_at = self.last  # the prop is removed: the door closes on the next step

    def command(self, name: str, value: Value) -> None:
        if name == "door_open":
            self.door_open = bool(value)

    def values(self, now: datetime) -> dict[str, Value]:
        return {
            "door_open": self.door_open,
            "door_forced": "door_forced" in self.faults,
            "door_held_open": "door_held_open" in self._announced,
            "tamper": "tamper" in self.faults,
            "swipes_granted": self.granted,
            "swipes_denied": self.denied,
        }

    def payload(self, now: datetime, event: str) -> dict[str, Any]:
        v = self.values(now)
        return {
            "device": self.device_id,
            "event": event,
            "ts": now.isoformat(),
            "door": {
                "open": v["door_open"],
                "forced": v["door_forced"],
                "held_open": v["door_held_open"],
            },
            "tamper": v["tamper"],
            "counters": {"granted": self.granted, "denied": self.denied},
        }

    def step(self, now: datetime) -> list[bytes]:
        """Everything the controller would publish between the last step and `now`."""
        dt = (now - self.last).total_seconds()
        self.last = now
        if "silent" in self.faults or dt <= 0:
            return []
        out: list[dict[str, Any]] = []
        closing = self.close_at is not None and now >= self.close_at
        if self.door_open and closing and "door_held_open" not in self.faults:
            self.door_open = False
            self.close_at = None
            out.append(self.payload(now, "door_closed"))
        hour = local_hour(now, self.tz)
        per_hour = (
            4 + 60 * bump(hour, 8.0, 1.2) + 50 * bump(hour, 18.5, 1.5) + 10 * bump(hour, 13, 2)
        )
        swipes = self._poisson(per_hour * dt / 3600)
        for _ in range(swipes):
            if self.rng.random() < 0.03:
                self.denied += 1
                out.append(self.payload(now, "card_denied"))
                continue
            self.granted += 1
            out.append(self.payload(now, "card_granted"))
            if not self.door_open:
                self.door_open = True
                out.append(self.payload(now, "door_opened"))
            self.close_at = now + timedelta(seconds=self.rng.uniform(3.0, 8.0))
        out += self._alarm_events(now)
        if (now - self.last_heartbeat).total_seconds() >= self.heartbeat_seconds:
            self.last_heartbeat = now
            out.append(self.payload(now, "heartbeat"))
        raw = [json.dumps(p, ensure_ascii=False).encode() for p in out]
        if "malformed_json" in self.faults:
            raw = [b"{door: open, 'ts': " + r[:10] for r in raw]
        elif "truncated_json" in self.faults:
            raw = [r[: max(1, len(r) // 2)] for r in raw]
        return raw

    def _alarm_events(self, now: datetime) -> list[dict[str, Any]]:
        """Each injected alarm is announced once (the state stays in every payload).

        A propped door (`door_held_open`) opens at once but is only reported once it has stood
        open for `after` seconds (30), as a controller's held-open timer does."""
        out: list[dict[str, Any]] = []
        for fault in ("door_forced", "door_held_open", "tamper"):
            if fault not in self.faults or fault in self._announced:
                continue
            if fault == "door_held_open":
                if not self.door_open:
                    self.door_open = True
                    out.append(self.payload(now, "door_opened"))
                self.held_since = self.held_since or now
                after = float(self.faults[fault].get("after", HELD_OPEN_SECONDS))
                if (now - self.held_since).total_seconds() < after:
                    continue
            if fault == "door_forced":
                self.door_open = True
                self.close_at = now + timedelta(seconds=5)
            self._announced.add(fault)
            out.append(self.payload(now, fault))
        return out

    def _poisson(self, lam: float) -> int:
        """Knuth's method; lam is small at any sane step size."""
        if lam <= 0:
            return 0
        limit, k, p = math.exp(-min(lam, 30.0)), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1
