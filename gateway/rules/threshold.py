"""Threshold with hysteresis and on/off delays, evaluated per asset."""

from __future__ import annotations

from gateway.readings import Sample
from gateway.rules.episode import Episode, numeric
from propwatch.events import AlarmEvent
from propwatch.site import ThresholdRule


class ThresholdAlarm:
    """One rule on one asset. Raises after the limit is crossed for `on_delay`; clears after the
    value is back beyond the hysteresis band for `off_delay`."""

    def __init__(self, rule: ThresholdRule, site_id: str, asset_id: str) -> None:
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
        self.state = self.episode.state

    def _violates(self, v: float) -> bool:
        r = self.rule
        return v > r.above if r.above is not None else v < r.below  # type: ignore[operator]

    def _recovered(self, v: float) -> bool:
        r = self.rule
        if r.above is not None:
            return v <= r.above - r.hysteresis
        assert r.below is not None
        return v >= r.below + r.hysteresis

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        v = numeric(sample, self.rule.metric)
        if v is None:
            return []
        r = self.rule
        changing = self._recovered(v) if self.state.active else self._violates(v)
        event = self.episode.update(
            sample,
            changing,
            {
                "metric": r.metric,
                "value": v,
                "unit": sample.units.get(r.metric, ""),
                "limit": r.above if r.above is not None else r.below,
                "direction": "above" if r.above is not None else "below",
                "hysteresis": r.hysteresis,
            },
        )
        return [event] if event else []

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]:
        return [self.episode] if rule_id in (None, self.episode.rule_id) else []

    def active_types(self) -> list[str]:
        return [self.rule.alarm_type] if self.state.active else []
