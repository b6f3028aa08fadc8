"""故障代码 and 故障标志: controller fault codes and fault flags as named alarms."""

from __future__ import annotations

from gateway.readings import Sample
from gateway.rules.episode import Episode
from propwatch.events import AlarmEvent
from propwatch.site import FaultCodeRule, FaultFlagsRule, FaultMapping


def _episode(
    rule: FaultCodeRule | FaultFlagsRule,
    site_id: str,
    asset_id: str,
    key: str,
    mapping: FaultMapping,
) -> Episode:
    return Episode(
        site_id,
        asset_id,
        f"{rule.id}/{key}",
        mapping.alarm_type,
        mapping.severity,
        mapping.message,
        rule.on_delay,
        rule.off_delay,
    )


class FaultCodeAlarm:
    """One episode per mapped code (or bit), each its own condition: a new fault never clears
    another.

    With `bits`, every bit is read on its own. A plain code register shows one fault at a time,
    so a code that replaces another says nothing of the one it hides: that one stays raised
    until the register reads 0 (no fault), which clears everything. Where a controller offers
    fault bits or flags, use them (`bits: true`, or a `fault_flags` rule).
    """

    def __init__(self, rule: FaultCodeRule, site_id: str, asset_id: str) -> None:
        self.rule = rule
        self.site_id = site_id
        self.asset_id = asset_id
        self.episodes = {
            code: _episode(rule, site_id, asset_id, str(code), m) for code, m in rule.codes.items()
        }
        self.unknown: dict[int, Episode] = {}

    def _present(self, code: int) -> set[int]:
        if not self.rule.bits:
            return {code} if code else set()
        return {b for b in range(64) if code >> b & 1}

    def _episode_for(self, key: int) -> Episode | None:
        if key in self.episodes:
            return self.episodes[key]
        if self.rule.unknown is None:
            return None
        if key not in self.unknown:
            m = self.rule.unknown
            self.unknown[key] = _episode(
                self.rule,
                self.site_id,
                self.asset_id,
                f"unknown-{key}",
                m.model_copy(update={"message": f"{m.message} ({key})"}),
            )
        return self.unknown[key]

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        raw = sample.values.get(self.rule.metric)
        if raw is None or isinstance(raw, str):
            return []
        if isinstance(raw, float) and not raw.is_integer():
            return []  # a fault code is a whole number; a fractional one is a wrong profile
        code = int(raw)
        present = self._present(code)
        evidence = {"metric": self.rule.metric, "value": code, "bits": self.rule.bits}
        events: list[AlarmEvent] = []
        for key in sorted(present | set(self.episodes) | set(self.unknown)):
            episode = self._episode_for(key) if key in present else self._known(key)
            if episode is None:
                continue
            on = key in present
            if not on and not self.rule.bits and code != 0:
                on = episode.active  # masked by another code, not gone
            changing = not on if episode.active else on
            if (event := episode.update(sample, changing, {**evidence, "code": key})) is not None:
                events.append(event)
        return events

    def _known(self, key: int) -> Episode | None:
        return self.episodes.get(key) or self.unknown.get(key)

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]:
        """Every episode, or the one of `rule_id` (an unknown code's is made on demand)."""
        if rule_id is None:
            return [*self.episodes.values(), *self.unknown.values()]
        key = rule_id.removeprefix(f"{self.rule.id}/")
        if key.startswith("unknown-") and key[8:].isdigit():
            found = self._episode_for(int(key[8:]))
            return [found] if found is not None else []
        return [e for e in self.episodes.values() if e.rule_id == rule_id]

    def active_types(self) -> list[str]:
        return [e.alarm_type for e in self.all_episodes() if e.active]


class FaultFlagsAlarm:
    """One episode per boolean fault point; raised while the flag is set."""

    def __init__(self, rule: FaultFlagsRule, site_id: str, asset_id: str) -> None:
        self.rule = rule
        self.episodes = {
            metric: _episode(rule, site_id, asset_id, metric, m) for metric, m in rule.flags.items()
        }

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for metric, episode in self.episodes.items():
            raw = sample.values.get(metric)
            if raw is None or isinstance(raw, str):
                continue
            on = bool(raw)
            changing = not on if episode.active else on
            event = episode.update(sample, changing, {"metric": metric, "value": on})
            if event is not None:
                events.append(event)
        return events

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]:
        return [e for e in self.episodes.values() if rule_id in (None, e.rule_id)]

    def active_types(self) -> list[str]:
        return [e.alarm_type for e in self.episodes.values() if e.active]
