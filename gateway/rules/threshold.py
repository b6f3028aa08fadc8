"""Threshold with hysteresis and on/off delays, evaluated per asset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.readings import Sample
from propwatch.events import AlarmAction, AlarmEvent
from propwatch.site import ThresholdRule


@dataclass
class _State:
    active: bool = False
    episode_id: str | None = None
    pending_since: datetime | None = None


class ThresholdAlarm:
    """One rule on one asset. Raises after the limit is crossed for `on_delay`; clears after the
    value is back beyond the hysteresis band for `off_delay`."""

    def __init__(self, rule: ThresholdRule, site_id: str, asset_id: str) -> None:
        self.rule = rule
        self.site_id = site_id
        self.asset_id = asset_id
        self.state = _State()

    def _violates(self, v: float) -> bool:
        r = self.rule
        return v > r.above if r.above is not None else v < r.below  # type: ignore[operator]

    def _recovered(self, v: float) -> bool:
        r = self.rule
        if r.above is not None:
            return v <= r.above - r.hysteresis
        assert r.below is not None
        return v >= r.below + r.hysteresis

    def evaluate(self, sample: Sample) -> AlarmEvent | None:
        raw = sample.values.get(self.rule.metric)
        if raw is None or isinstance(raw, str):
            return None
        v = float(raw)
        s = self.state
        changing = self._recovered(v) if s.active else self._violates(v)
        if not changing:
            s.pending_since = None
            return None
        if s.pending_since is None:
            s.pending_since = sample.at
        delay = self.rule.off_delay if s.active else self.rule.on_delay
        if (sample.at - s.pending_since).total_seconds() < delay:
            return None
        s.pending_since = None
        if not s.active:
            s.active = True
            s.episode_id = (
                f"{self.site_id}/{self.asset_id}/{self.rule.id}/{int(sample.at.timestamp() * 1000)}"
            )
            return self._event(AlarmAction.RAISE, sample, v)
        event = self._event(AlarmAction.CLEAR, sample, v)
        s.active = False
        s.episode_id = None
        return event

    def _event(self, action: AlarmAction, sample: Sample, value: float) -> AlarmEvent:
        r = self.rule
        assert self.state.episode_id is not None
        limit = r.above if r.above is not None else r.below
        return AlarmEvent(
            site_id=self.site_id,
            occurred_at=sample.at,
            action=action,
            episode_id=self.state.episode_id,
            asset_id=self.asset_id,
            device_id=sample.device_id,
            alarm_type=r.alarm_type,
            severity=r.severity,
            rule_id=r.id,
            message=r.message,
            evidence={
                "metric": r.metric,
                "value": value,
                "unit": sample.units.get(r.metric, ""),
                "limit": limit,
                "direction": "above" if r.above is not None else "below",
                "hysteresis": r.hysteresis,
            },
        )
