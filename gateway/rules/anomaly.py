"""趋势异常: a robust z-score detector for slow drifts that thresholds catch too late.

Values are averaged into `bucket`s; the level is the mean of the last `level` worth of buckets.
The baseline is the median and MAD (median absolute deviation, ×1.4826 to match a standard
deviation) of past levels over `baseline` — one baseline per hour of day when `season` is daily,
since pumps and lifts follow the residents' day. Nothing is raised during `warmup`, and levels
that look anomalous do not enter the baseline, so a drift cannot teach the detector that it is
normal once it has been noticed.
"""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime

from gateway.readings import Sample
from gateway.rules.episode import Episode, numeric
from propwatch.events import AlarmEvent
from propwatch.site import AnomalyRule

MAD_TO_SIGMA = 1.4826
SLOTS_PER_DAY = 24


class RobustBaseline:
    """Median and scaled MAD of bucket means, recomputed only when a bucket closes."""

    def __init__(self, capacity: int) -> None:
        self.values: deque[float] = deque(maxlen=capacity)
        self.median = 0.0
        self.spread = 0.0

    def add(self, value: float) -> None:
        self.values.append(value)
        self.median = statistics.median(self.values)
        self.spread = MAD_TO_SIGMA * statistics.median(abs(v - self.median) for v in self.values)


class AnomalyAlarm:
    """One anomaly rule on one asset."""

    def __init__(self, rule: AnomalyRule, site_id: str, asset_id: str) -> None:
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
        slots = SLOTS_PER_DAY if rule.season == "daily" else 1
        capacity = max(1, round(rule.baseline / rule.bucket / slots))
        self.baselines = [RobustBaseline(capacity) for _ in range(slots)]
        self.level_buckets: deque[float] = deque(maxlen=max(1, round(rule.level / rule.bucket)))
        self.bucket_start: datetime | None = None
        self.bucket_sum = 0.0
        self.bucket_n = 0
        self.learned = 0

    @property
    def warm(self) -> bool:
        return self.learned * self.rule.bucket >= self.rule.warmup

    def baseline_at(self, at: datetime) -> RobustBaseline:
        if len(self.baselines) == 1:
            return self.baselines[0]
        return self.baselines[at.hour]

    def z_score(self, baseline: RobustBaseline, level: float) -> float:
        spread = max(baseline.spread, self.rule.min_spread, 1e-9)
        return (level - baseline.median) / spread

    def _directed(self, z: float) -> float:
        d = self.rule.direction
        return z if d == "above" else -z if d == "below" else abs(z)

    def _close_bucket(self, at: datetime) -> tuple[float, float, RobustBaseline] | None:
        """Fold the finished bucket in; return (directed z, level, baseline) once warm."""
        self.level_buckets.append(self.bucket_sum / self.bucket_n)
        level = sum(self.level_buckets) / len(self.level_buckets)
        baseline = self.baseline_at(at)
        z = self._directed(self.z_score(baseline, level)) if baseline.values else 0.0
        if not self.warm or (z < self.rule.threshold and not self.episode.active):
            baseline.add(level)
            self.learned += 1
        return (z, level, baseline) if self.warm else None

    def evaluate(self, sample: Sample) -> list[AlarmEvent]:
        v = numeric(sample, self.rule.metric)
        if v is None:
            return []
        if self.bucket_start is None:
            self.bucket_start = sample.at
        closed = None
        if (sample.at - self.bucket_start).total_seconds() >= self.rule.bucket and self.bucket_n:
            closed = self._close_bucket(sample.at)
            self.bucket_start, self.bucket_sum, self.bucket_n = sample.at, 0.0, 0
        self.bucket_sum += v
        self.bucket_n += 1
        if closed is None:
            return []
        z, level, baseline = closed
        r = self.rule
        clear_at = r.clear_at if r.clear_at is not None else r.threshold * 2 / 3
        changing = z < clear_at if self.episode.active else z >= r.threshold
        event = self.episode.update(
            sample,
            changing,
            {
                "metric": r.metric,
                "value": v,
                "unit": sample.units.get(r.metric, ""),
                "method": r.method,
                "z": round(z, 3),
                "level": round(level, 6),
                "baseline_median": round(baseline.median, 6),
                "baseline_spread": round(baseline.spread, 6),
                "threshold": r.threshold,
                "direction": r.direction,
            },
        )
        return [event] if event else []

    def all_episodes(self, rule_id: str | None = None) -> list[Episode]:
        return [self.episode] if rule_id in (None, self.episode.rule_id) else []

    def active_types(self) -> list[str]:
        return [self.rule.alarm_type] if self.episode.active else []
