"""Bind the site's rules to its assets and evaluate every sample against them."""

from __future__ import annotations

from collections import defaultdict

from gateway.readings import Sample
from gateway.rules.threshold import ThresholdAlarm
from propwatch.events import AlarmEvent
from propwatch.site import Site


class RuleEngine:
    def __init__(self, site: Site) -> None:
        self.by_asset: dict[str, list[ThresholdAlarm]] = defaultdict(list)
        for rule in site.spec.rules:
            for asset in site.spec.assets:
                if rule.asset == asset.id or (rule.asset_kind and rule.asset_kind == asset.kind):
                    self.by_asset[asset.id].append(ThresholdAlarm(rule, site.id, asset.id))

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        events = []
        for alarm in self.by_asset.get(sample.asset_id, ()):
            if (event := alarm.evaluate(sample)) is not None:
                events.append(event)
        return events

    def active(self, asset_id: str) -> list[str]:
        return [a.rule.alarm_type for a in self.by_asset.get(asset_id, ()) if a.state.active]
