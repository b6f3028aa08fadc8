"""数值不变: a value that has not moved for too long points at a frozen sensor."""

from __future__ import annotations

from datetime import datetime

from gateway.readings import Sample
from gateway.rules.episode import Episode, numeric
from propwatch.events import AlarmEvent
from propwatch.site import StuckRule


class StuckValueAlarm:
    """Tracks the time since the value last left a `tolerance` band around its anchor."""

    def __init__(self, rule: StuckRule, site_id: str, asset_id: str) -> None:
        self.rule = rule
        self.episode = Episode(
            site_id,
            asset_id,
            rule.id,
            rule.alarm_type,
            rule.severity,
            rule.message,
            rule.on_delay,
            rule.off_delay,
        )
        self.anchor: float | None = None
        self.since: datetime | None = None

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        v = numeric(sample, self.rule.metric)
        if v is None:
            return []
        moved = self.anchor is None or abs(v - self.anchor) > self.rule.tolerance
        if moved:
            self.anchor, self.since = v, sample.at
        assert self.since is not None
        unchanged_for = (sample.at - self.since).total_seconds()
        stuck = unchanged_for >= self.rule.duration
        event = self.episode.update(
            sample,
            moved if self.episode.active else stuck,
            {
                "metric": self.rule.metric,
                "value": v,
                "unit": sample.units.get(self.rule.metric, ""),
                "unchanged_seconds": unchanged_for,
                "tolerance": self.rule.tolerance,
            },
        )
        return [event] if event else []

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]:
        return [self.episode] if rule_id in (None, self.episode.rule_id) else []

    def active_types(self) -> list[str]:
        return [self.rule.alarm_type] if self.episode.active else []
