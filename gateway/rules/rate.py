"""变化率: rate of change over a window, with on/off delays."""

from __future__ import annotations

from collections import deque
from datetime import datetime

from gateway.readings import Sample
from gateway.rules.episode import Episode, numeric
from propwatch.events import AlarmEvent
from propwatch.site import RateOfChangeRule


class RateOfChangeAlarm:
    """Compares each value with the oldest one still inside `window`, scaled to `per`."""

    def __init__(self, rule: RateOfChangeRule, site_id: str, asset_id: str) -> None:
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
        self.history: deque[tuple[datetime, float]] = deque()

    def _rate(self, at: datetime, v: float) -> float | None:
        h = self.history
        h.append((at, v))
        while len(h) > 2 and (at - h[1][0]).total_seconds() >= self.rule.window:
            h.popleft()
        t0, v0 = h[0]
        span = (at - t0).total_seconds()
        # Less than half a window of history says little: wait rather than guess.
        if span < self.rule.window / 2:
            return None
        return (v - v0) / span * self.rule.per

    def _violates(self, rate: float) -> bool:
        r = self.rule
        return (r.rise is not None and rate > r.rise) or (r.fall is not None and -rate > r.fall)

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        v = numeric(sample, self.rule.metric)
        if v is None:
            return []
        rate = self._rate(sample.at, v)
        if rate is None:
            return []
        active = self.episode.active
        r = self.rule
        event = self.episode.update(
            sample,
            not self._violates(rate) if active else self._violates(rate),
            {
                "metric": r.metric,
                "value": v,
                "unit": sample.units.get(r.metric, ""),
                "rate": round(rate, 6),
                "per_seconds": r.per,
                "window_seconds": r.window,
                "rise_limit": r.rise,
                "fall_limit": r.fall,
            },
        )
        return [event] if event else []

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]:
        return [self.episode] if rule_id in (None, self.episode.rule_id) else []

    def active_types(self) -> list[str]:
        return [self.rule.alarm_type] if self.episode.active else []
