"""整改时限: a rectification's deadline from the site's per-severity table.

Hours run on the calendar clock; working days end at 23:59:59 local of the Nth working day after
the day of issue, on the same statutory calendar (holidays off, 调休 days on) as the work orders'
time limits: both go through `maintenance.sla.due_at`.
"""

from __future__ import annotations

from datetime import datetime

from maintenance.sla import due_at
from propwatch.durations import TimeLimit
from propwatch.quality import FindingSeverity
from propwatch.site import SiteFile


def deadline_limit(spec: SiteFile, severity: FindingSeverity) -> TimeLimit:
    return spec.quality.deadline(severity)


def rectification_deadline(
    spec: SiteFile, severity: FindingSeverity, issued_at: datetime
) -> datetime:
    """When a rectification issued at `issued_at` must be done (UTC)."""
    return due_at(issued_at, deadline_limit(spec, severity), spec.site.tz)
