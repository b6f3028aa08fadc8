"""Bind the site's rules to its assets and evaluate every sample against them."""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

from gateway.readings import Sample
from gateway.rules.anomaly import AnomalyAlarm
from gateway.rules.episode import Episode
from gateway.rules.fault_codes import FaultCodeAlarm, FaultFlagsAlarm
from gateway.rules.rate import RateOfChangeAlarm
from gateway.rules.stuck import StuckValueAlarm
from gateway.rules.threshold import ThresholdAlarm
from propwatch.events import ActiveCondition, AlarmEvent
from propwatch.profiles import PointFace
from propwatch.site import (
    AnomalyRule,
    CommunicationLossRule,
    FaultCodeRule,
    FaultFlagsRule,
    RateOfChangeRule,
    Rule,
    Site,
    StuckRule,
    ThresholdRule,
)


class AssetAlarm(Protocol):
    """One rule bound to one asset, holding that pair's state."""

    @property
    def rule(self) -> Rule: ...

    def evaluate(self, sample: Sample) -> list[AlarmEvent]: ...

    def active_types(self) -> list[str]: ...

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]: ...


def bind(rule: Rule, site_id: str, asset_id: str) -> AssetAlarm | None:
    """The evaluator for a rule kind; communication loss is judged by the poller instead."""
    if isinstance(rule, ThresholdRule):
        return ThresholdAlarm(rule, site_id, asset_id)
    if isinstance(rule, RateOfChangeRule):
        return RateOfChangeAlarm(rule, site_id, asset_id)
    if isinstance(rule, StuckRule):
        return StuckValueAlarm(rule, site_id, asset_id)
    if isinstance(rule, FaultCodeRule):
        return FaultCodeAlarm(rule, site_id, asset_id)
    if isinstance(rule, FaultFlagsRule):
        return FaultFlagsAlarm(rule, site_id, asset_id)
    if isinstance(rule, AnomalyRule):
        return AnomalyAlarm(rule, site_id, asset_id)
    return None


class RuleEngine:
    def __init__(self, site: Site) -> None:
        self.site_id = site.id
        self.by_asset: dict[str, list[AssetAlarm]] = defaultdict(list)
        self.communication: dict[str, CommunicationLossRule] = {}
        self.faces: dict[str, dict[str, PointFace]] = {}
        self.rebuild(site)

    def rebuild(self, site: Site) -> tuple[int, int]:
        """Bind the rules of a (re)loaded site. A rule whose definition and asset are unchanged
        keeps its state (pending delays, open episodes, learned baselines); returns
        (kept, new)."""
        old = {
            (asset_id, alarm.rule.id): alarm
            for asset_id, alarms in self.by_asset.items()
            for alarm in alarms
        }
        self.site_id = site.id
        self.by_asset = defaultdict(list)
        self.communication = {}
        self.faces = {a.id: site.point_faces(a.id) for a in site.spec.assets}
        kept = new = 0
        for rule in site.spec.rules:
            for asset in site.spec.assets:
                if not rule.applies_to(asset):
                    continue
                if isinstance(rule, CommunicationLossRule):
                    self.communication[asset.id] = rule
                    continue
                previous = old.get((asset.id, rule.id))
                if previous is not None and previous.rule == rule:
                    self.by_asset[asset.id].append(previous)
                    kept += 1
                elif (alarm := bind(rule, site.id, asset.id)) is not None:
                    self.by_asset[asset.id].append(alarm)
                    new += 1
        return kept, new

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        faces = self.faces.get(sample.asset_id, {})
        for alarm in self.by_asset.get(sample.asset_id, ()):
            for event in alarm.evaluate(sample):
                # the point's zh-CN name travels with the value, so the order reads 出水压力
                face = faces.get(str(event.evidence.get("metric")))
                if face is not None:
                    event.evidence.setdefault("label", face.label)
                events.append(event)
        return events

    def active(self, asset_id: str) -> list[str]:
        return [t for a in self.by_asset.get(asset_id, ()) for t in a.active_types()]

    def conditions(self, asset_id: str) -> list[ActiveCondition]:
        """The asset's open episodes: what its snapshot tells the maintenance side."""
        return [
            c
            for a in self.by_asset.get(asset_id, ())
            for e in a.all_episodes()
            if (c := e.condition()) is not None
        ]

    def restore(self, asset_id: str, condition: ActiveCondition) -> bool:
        """Reopen a condition held before a restart; False when no rule of the asset has it
        any more (the site file changed), so it is left to be reconciled away."""
        for alarm in self.by_asset.get(asset_id, ()):
            for episode in alarm.all_episodes(condition.rule_id):
                if episode.alarm_type == condition.alarm_type:
                    episode.restore(condition)
                    return True
        return False

    def communication_rule(self, asset_id: str) -> CommunicationLossRule | None:
        return self.communication.get(asset_id)
