"""An alarm episode on one asset: on/off delays, a stable episode id, raise and clear events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.readings import Sample
from propwatch.events import ActiveCondition, AlarmAction, AlarmEvent, Severity


@dataclass
class EpisodeState:
    active: bool = False
    episode_id: str | None = None
    pending_since: datetime | None = None
    since: datetime | None = None  # when the open episode was raised
    device_id: str | None = None


class Episode:
    """Debounces a condition into raise/clear: the condition must hold for `on_delay` to raise
    and the recovery must hold for `off_delay` to clear. Raise and clear share `episode_id`."""

    def __init__(
        self,
        site_id: str,
        asset_id: str,
        rule_id: str,
        alarm_type: str,
        severity: Severity,
        message: str,
        on_delay: float = 0.0,
        off_delay: float = 0.0,
    ) -> None:
        self.site_id = site_id
        self.asset_id = asset_id
        self.rule_id = rule_id
        self.alarm_type = alarm_type
        self.severity = severity
        self.message = message
        self.on_delay = on_delay
        self.off_delay = off_delay
        self.state = EpisodeState()

    @property
    def active(self) -> bool:
        return self.state.active

    def update(self, sample: Sample, changing: bool, evidence: dict[str, Any]) -> AlarmEvent | None:
        """`changing` is "violates" while idle and "recovered" while active."""
        s = self.state
        if not changing:
            s.pending_since = None
            return None
        if s.pending_since is None:
            s.pending_since = sample.at
        delay = self.off_delay if s.active else self.on_delay
        if (sample.at - s.pending_since).total_seconds() < delay:
            return None
        s.pending_since = None
        if not s.active:
            s.active = True
            millis = int(sample.at.timestamp() * 1000)
            s.episode_id = f"{self.site_id}/{self.asset_id}/{self.rule_id}/{millis}"
            s.since, s.device_id = sample.at, sample.device_id
            return self.event(AlarmAction.RAISE, sample, evidence)
        event = self.event(AlarmAction.CLEAR, sample, evidence)
        s.active = False
        s.episode_id = s.since = s.device_id = None
        return event

    def condition(self) -> ActiveCondition | None:
        """The open episode as the asset's snapshot lists it, or None while idle."""
        s = self.state
        if not s.active or s.episode_id is None or s.since is None:
            return None
        return ActiveCondition(
            episode_id=s.episode_id,
            alarm_type=self.alarm_type,
            severity=self.severity,
            rule_id=self.rule_id,
            since=s.since,
            device_id=s.device_id,
            message=self.message,
        )

    def restore(self, condition: ActiveCondition) -> None:
        """Reopen an episode the gateway held when it stopped: the same id, so the maintenance
        side sees one alarm across the restart, and a clear once the condition is gone."""
        s = self.state
        s.active, s.episode_id, s.pending_since = True, condition.episode_id, None
        s.since, s.device_id = condition.since, condition.device_id

    def event(self, action: AlarmAction, sample: Sample, evidence: dict[str, Any]) -> AlarmEvent:
        assert self.state.episode_id is not None
        return AlarmEvent(
            site_id=self.site_id,
            occurred_at=sample.at,
            action=action,
            episode_id=self.state.episode_id,
            asset_id=self.asset_id,
            device_id=sample.device_id,
            alarm_type=self.alarm_type,
            severity=self.severity,
            rule_id=self.rule_id,
            message=self.message,
            evidence={"rule": self.rule_id, **evidence},
        )


def numeric(sample: Sample, metric: str) -> float | None:
    """The metric as a number, or None when the sample lacks it or carries text."""
    raw = sample.values.get(metric)
    if raw is None or isinstance(raw, str):
        return None
    return float(raw)
