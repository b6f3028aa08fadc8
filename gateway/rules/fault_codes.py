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
    """One episode per mapped code (or bit): a code that changes clears the old alarm and raises
    the new one; code 0 clears everything."""

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
            changing = not on if episode.active else on
            if (event := episode.update(sample, changing, {**evidence, "code": key})) is not None:
                events.append(event)
        return events

    def _known(self, key: int) -> Episode | None:
        return self.episodes.get(key) or self.unknown.get(key)

    def active_types(self) -> list[str]:
        eps = [*self.episodes.values(), *self.unknown.values()]
        return [e.alarm_type for e in eps if e.active]


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

    def active_types(self) -> list[str]:
        return [e.alarm_type for e in self.episodes.values() if e.active]
