"""套保 (nesting): a plan's visit replaces the visits of the plans it absorbs.

TSG T5002 says the quarterly, half-yearly and yearly work is done on top of the half-monthly
items: one visit, not two on neighbouring days. A plan names the plans it absorbs (`absorbs`,
plan ids or template ids) and a window (`absorb_window`, 7 days unless given). An occurrence of
an absorbed plan for an asset is not opened when a plan absorbing it covers the same asset and
has a visit within the window of it (before or after); that visit carries the union of the
checklists instead: the absorbed plans' items first, in the order `absorbs` lists them (a plan
absorbed through another comes before it), then the plan's own, each item once. Absorbing is
transitive: the yearly visit that absorbs the quarterly one carries the half-monthly items the
quarterly one absorbs. Only calendar plans nest; a floating or meter plan named in `absorbs`
is left alone, since when it falls due depends on work not yet done.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from propwatch.site import Asset, ChecklistItem

if TYPE_CHECKING:
    from maintenance.plans.service import Plan


def _calendar(plan: Plan) -> bool:
    return plan.meter is None and not plan.floating


@dataclass(frozen=True)
class Nesting:
    """Who absorbs whom among one site's plans."""

    absorbed: dict[str, tuple[Plan, ...]]
    """plan id -> the plans its visit absorbs (transitively), in checklist order."""
    absorbers: dict[str, tuple[Plan, ...]]
    """plan id -> the plans that name it (directly or through another) in `absorbs`."""

    def checklist(self, plan: Plan) -> tuple[ChecklistItem, ...]:
        """The visit's checklist: the absorbed plans' items, then the plan's own, each once."""
        seen: set[str] = set()
        out: list[ChecklistItem] = []
        for p in (*self.absorbed.get(plan.id, ()), plan):
            for item in p.checklist:
                if item.id not in seen:
                    seen.add(item.id)
                    out.append(item)
        return tuple(out)

    def hours(self, plan: Plan) -> float:
        """Labour hours of the visit: its own, plus those of every plan it absorbs."""
        return plan.estimated_hours + sum(p.estimated_hours for p in self.absorbed.get(plan.id, ()))


def nesting(plans: Sequence[Plan]) -> Nesting:
    """The absorb relation of the enabled calendar plans (a cycle is cut where it closes)."""
    live = [p for p in plans if p.enabled and _calendar(p)]

    def named(q: Plan) -> list[Plan]:
        return [p for name in q.absorbs for p in live if p is not q and name in (p.id, p.template)]

    absorbed: dict[str, tuple[Plan, ...]] = {}
    for q in live:
        order: list[Plan] = []
        seen = {q.id}

        def walk(p: Plan, seen: set[str] = seen, order: list[Plan] = order) -> None:
            if p.id in seen:
                return
            seen.add(p.id)
            for inner in named(p):
                walk(inner)
            order.append(p)

        for p in named(q):
            walk(p)
        if order:
            absorbed[q.id] = tuple(order)
    absorbers: dict[str, list[Plan]] = {}
    for q in live:
        for p in absorbed.get(q.id, ()):
            absorbers.setdefault(p.id, []).append(q)
    return Nesting(absorbed, {k: tuple(v) for k, v in absorbers.items()})


VisitsNear = Callable[["Plan", datetime], datetime | None]
"""The plan's own visit nearest to a time, within its absorb window (None: none there)."""


def absorbing_visit(
    plan: Plan, asset: Asset, due: datetime, nest: Nesting, near: VisitsNear
) -> tuple[Plan, datetime] | None:
    """The visit that replaces `plan`'s occurrence at `due` for `asset`, or None."""
    for q in nest.absorbers.get(plan.id, ()):
        if not q.targets.covers(asset):
            continue
        at = near(q, due)
        if at is not None:
            return q, at
    return None


class VisitTimes:
    """Each plan's due times over one span, enumerated once (the forecast asks per asset)."""

    def __init__(
        self, times: Callable[[Plan, datetime, datetime], list[datetime]], start: datetime
    ) -> None:
        self._times = times
        self._start = start
        self._cache: dict[str, tuple[datetime, list[datetime]]] = {}

    def near(self, plan: Plan, at: datetime) -> datetime | None:
        w = plan.absorb_window
        cached = self._cache.get(plan.id)
        if cached is None or cached[0] < at + w:
            until = max(at + w, self._start + timedelta(days=120))
            cached = (until, self._times(plan, self._start - w - timedelta(days=31), until))
            self._cache[plan.id] = cached
        times = cached[1]
        i = bisect.bisect_left(times, at - w)
        best: datetime | None = None
        while i < len(times) and times[i] <= at + w:
            if best is None or abs(times[i] - at) < abs(best - at):
                best = times[i]
            i += 1
        return best
