"""计划运行状态: which plans the last pass could not run, and why, kept in the database so that
every replica, the API and `/metrics` see the same answer.

A failing plan fails on every pass (each minute); its row changes only when its error does, and
the scheduler logs only those changes, so the log tells when a plan broke and when it was fixed
rather than repeating a traceback each minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.plans.models import PlanHealth

MAX_ERROR = 2000
"""Characters of an error kept: a driver's message can carry a whole statement."""


@dataclass(frozen=True)
class HealthChange:
    """A plan that started failing, failed differently, or went through again."""

    plan_id: str
    error: str | None  # None: recovered
    previous: str | None


def record_plan_health(
    session: Session,
    site_id: str,
    failed: Mapping[str, str],
    now: datetime,
) -> list[HealthChange]:
    """Record one complete pass: `failed` maps each plan it could not run to the error. Every
    other plan of the site is cleared: it went through, or it is no longer in the site (fixed by
    a reload, removed, retired), so its error is no longer anyone's to fix."""
    rows = {
        r.plan_code: r
        for r in session.scalars(select(PlanHealth).where(PlanHealth.site_id == site_id))
    }
    changes: list[HealthChange] = []
    for plan_id, error in failed.items():
        text = error[:MAX_ERROR]
        row = rows.get(plan_id)
        if row is None:
            row = _insert(session, site_id, plan_id, now)
        if row.error != text:
            changes.append(HealthChange(plan_id, text, row.error))
            row.error, row.error_since = text, now
        row.error_at, row.failures, row.updated_at = now, row.failures + 1, now
    for plan_id, row in rows.items():
        if plan_id not in failed and row.error is not None:
            changes.append(HealthChange(plan_id, None, row.error))
            row.error, row.error_since, row.updated_at = None, None, now
    return changes


def _insert(session: Session, site_id: str, plan_id: str, now: datetime) -> PlanHealth:
    """A new row, or the one another replica inserted a moment before."""
    row = PlanHealth(site_id=site_id, plan_code=plan_id, failures=0, updated_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = session.scalar(
            select(PlanHealth).where(PlanHealth.site_id == site_id, PlanHealth.plan_code == plan_id)
        )
        if winner is None:
            raise
        return winner
    return row


def plan_health(session: Session, site_ids: Iterable[str]) -> dict[tuple[str, str], PlanHealth]:
    """(site, plan) -> its health row, for the sites asked."""
    ids = list(site_ids)
    if not ids:
        return {}
    return {
        (r.site_id, r.plan_code): r
        for r in session.scalars(select(PlanHealth).where(PlanHealth.site_id.in_(ids)))
    }
