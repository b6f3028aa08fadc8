"""回访评价: the three scores of a revisit, and what an unsatisfied one sets going.

At 回访 (the step closed → revisited) customer service, or later the resident through the
tracking link, scores 响应速度 (response), 维修质量 (quality) and 服务态度 (attitude) from 1 to 5,
with a comment and how the revisit was made (`Via`). The rules, so the duty room can check them:

- Scores are required where a resident is behind the order: the ticket system's and residents'
  own reports (source `ticket`, `resident`) and every complaint. Alarm, plan and front-desk
  (`manual`) orders may be revisited without them; given, they are kept and count the same.
- 满意 (satisfied): every score 4 or more. 不满意 (unsatisfied): any score 2 or less. A revisit
  with neither (a 3 somewhere, nothing under) closes the loop without counting as satisfied.
- An unsatisfied 维修质量 means the fix did not hold: the order is reopened (返修), its resolve
  clock restarting, unless it is a plan's order (a 保养 occurrence is history its plan reads), for
  which a linked follow-up order of the same category is opened instead. An unsatisfied
  响应速度 or 服务态度 with a sound repair is about the service, not the work: a linked 一般投诉
  follow-up goes to the zone's customer service, and the repair is not counted as rework.
- Either way the zone's supervisor is told (`work_order.unsatisfied` in the outbox), once per
  revisit: the revisit row is unique per order and round and the notification's dedup key too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maintenance.assignment import zone_supervisor
from maintenance.errors import UnknownReference
from maintenance.notifications import notify
from maintenance.registry.models import Asset
from maintenance.work_orders.errors import IllegalTransition
from maintenance.work_orders.models import (
    REVISIT_OUTCOME_ZH,
    VIA_ZH,
    RevisitOutcome,
    Source,
    Status,
    Step,
    Via,
    WorkOrder,
    WorkOrderRevisit,
    WorkOrderTransition,
)
from propwatch.site import Category, Priority, SiteFile

SCORE_ITEMS = ("response", "quality", "attitude")
SCORE_ZH = {"response": "响应速度", "quality": "维修质量", "attitude": "服务态度"}
LOWEST, HIGHEST = 1, 5
SATISFIED_FROM = 4
"""满意: every score at least this."""
UNSATISFIED_UP_TO = 2
"""不满意: any score at most this."""
COMMENT_MAX = 1000
RESIDENT_SOURCES = (Source.TICKET.value, "resident")
"""Sources with a resident behind them (`resident`: scan-to-report, 扫码报修)."""
SYSTEM = "system"


@dataclass(frozen=True)
class RevisitScores:
    """What the revisit recorded: three scores of 1–5, how it was made, and a comment."""

    response: int
    quality: int
    attitude: int
    via: Via
    comment: str = ""

    def items(self) -> list[tuple[str, int]]:
        return [(name, getattr(self, name)) for name in SCORE_ITEMS]

    def unsatisfied(self) -> list[tuple[str, int]]:
        return [(n, v) for n, v in self.items() if v <= UNSATISFIED_UP_TO]


class InvalidRevisit(UnknownReference):
    """Scores missing, out of range, or given where no revisit is made (field named)."""

    code = "invalid_revisit"


def needs_scores(wo: WorkOrder) -> bool:
    """A resident is behind the order: their own report, the ticket system's, a complaint."""
    return wo.source in RESIDENT_SOURCES or wo.category == Category.COMPLAINT


def check(wo: WorkOrder, scores: RevisitScores | None) -> None:
    """Refuse a revisit without the scores it needs, or with a score outside 1–5."""
    if scores is None:
        if needs_scores(wo):
            raise InvalidRevisit(
                {
                    "revisit": (
                        "住户报修和投诉的回访需要记录响应速度、维修质量、服务态度三项评分（1–5）",
                        "a revisit of a resident's report or a complaint needs the scores "
                        "revisit.response, revisit.quality and revisit.attitude (1 to 5)",
                    )
                }
            )
        return
    at_fault: dict[str, tuple[str, str]] = {}
    for name, value in scores.items():
        if isinstance(value, bool) or not isinstance(value, int) or not LOWEST <= value <= HIGHEST:
            at_fault[f"revisit.{name}"] = (
                f"{SCORE_ZH[name]}评分须为 1–5 的整数",
                f"{name} must be a whole number from 1 to 5",
            )
    if len(scores.comment) > COMMENT_MAX:
        at_fault["revisit.comment"] = (
            f"回访意见最多 {COMMENT_MAX} 字",
            f"comment has at most {COMMENT_MAX} characters",
        )
    if at_fault:
        raise InvalidRevisit(at_fault)


def not_at_revisit() -> InvalidRevisit:
    return InvalidRevisit(
        {
            "revisit": (
                "只有回访（转为「已回访」）时可以记录评分",
                "scores go with the transition to revisited only",
            )
        }
    )


def summary(scores: RevisitScores) -> str:
    """电话回访：响应速度 5 分、维修质量 2 分、服务态度 4 分；住户意见：…"""
    text = f"{VIA_ZH[scores.via]}：" + "、".join(f"{SCORE_ZH[n]} {v} 分" for n, v in scores.items())
    return text + (f"；住户意见：{scores.comment}" if scores.comment.strip() else "")


def outcome_for(wo: WorkOrder, scores: RevisitScores | None) -> RevisitOutcome:
    """The rule in the module doc."""
    low = {name for name, _ in scores.unsatisfied()} if scores is not None else set()
    if not low:
        return RevisitOutcome.CLOSED
    if "quality" in low and wo.source != Source.PLAN:
        return RevisitOutcome.REOPENED
    return RevisitOutcome.FOLLOW_UP


def record(
    session: Session,
    wo: WorkOrder,
    scores: RevisitScores | None,
    *,
    actor: str,
    now: datetime,
    due: datetime | None,
) -> WorkOrderRevisit:
    """The revisit row of this round (the order's `reopen_count`); a second is refused."""
    row = WorkOrderRevisit(
        work_order_id=wo.id,
        site_id=wo.site_id,
        round=wo.reopen_count,
        at=now,
        due_at=due,
        actor=actor,
        via=scores.via.value if scores else None,
        response=scores.response if scores else None,
        quality=scores.quality if scores else None,
        attitude=scores.attitude if scores else None,
        comment=scores.comment if scores else "",
        outcome=outcome_for(wo, scores).value,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        # the same revisit twice at once: the second waited on the order's lock, and on
        # PostgreSQL may still hold the order as it read it before (closed); the key refuses it
        raise IllegalTransition(
            f"工单 {wo.code} 本轮已回访", f"work order {wo.code} was revisited already"
        ) from exc
    return row


def follow_through(
    session: Session,
    spec: SiteFile,
    wo: WorkOrder,
    row: WorkOrderRevisit,
    scores: RevisitScores | None,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Reopen, or open the follow-up, and tell the zone supervisor (the module doc's rule)."""
    from maintenance.work_orders import service  # it builds on this module

    if scores is None or row.outcome == RevisitOutcome.CLOSED:
        return
    low = scores.unsatisfied()
    which = "、".join(f"{SCORE_ZH[n]} {v} 分" for n, v in low)
    said = f"：{scores.comment}" if scores.comment.strip() else ""
    follow_up: WorkOrder | None = None
    if row.outcome == RevisitOutcome.REOPENED:
        service.transition(
            session,
            spec,
            wo.id,
            Status.REOPENED,
            actor=actor,
            now=now,
            note=f"回访不满意（{which}）{said}",
        )
        done = "已重新打开返修"
    else:
        follow_up = _follow_up(session, spec, wo, row, scores, which, now, actor)
        row.follow_up_id = follow_up.id
        done = f"已开跟进工单 {follow_up.code}"
        session.add(
            WorkOrderTransition(
                work_order_id=wo.id,
                at=now,
                actor=SYSTEM,
                from_status=wo.status,
                to_status=Step.NOTE,
                note=f"回访不满意（{which}），{done}",
                attachments=[],
            )
        )
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.unsatisfied",
        message=f"工单 {wo.code} 回访不满意（{which}）{said}：{wo.title}，{done}",
        at=now,
        work_order_id=wo.id,
        recipient=zone_supervisor(spec, wo.zone_code),
        payload={
            "work_order": wo.code,
            "id": wo.id,
            "zone": wo.zone_code,
            "round": row.round,
            "scores": {n: v for n, v in scores.items()},
            "unsatisfied": [n for n, _ in low],
            "via": scores.via.value,
            "comment": scores.comment,
            "outcome": row.outcome,
            "follow_up": follow_up.code if follow_up else None,
            "follow_up_id": follow_up.id if follow_up else None,
            "actor": actor,
        },
        dedup_key=f"revisit:{wo.id}:{row.round}",
    )


def _follow_up(
    session: Session,
    spec: SiteFile,
    wo: WorkOrder,
    row: WorkOrderRevisit,
    scores: RevisitScores,
    which: str,
    now: datetime,
    actor: str,
) -> WorkOrder:
    """The linked order: a 一般投诉 about the service for the zone's customer service, or (for
    a plan's order whose work was poor) a repair of the same category."""
    from maintenance.work_orders import service  # it builds on this module

    about_service = "quality" not in {n for n, _ in scores.unsatisfied()}
    asset = session.get(Asset, wo.asset_id) if wo.asset_id is not None else None
    assignee = None
    if about_service:
        zone = next((z for z in spec.zones if z.id == wo.zone_code), None)
        if zone is not None:
            assignee = next(iter(zone.service), None) or zone.supervisor
    said = f"\n住户意见：{scores.comment}" if scores.comment.strip() else ""
    made, _ = service.create_work_order(
        session,
        spec,
        service.NewWorkOrder(
            site_id=wo.site_id,
            source=Source.MANUAL,
            source_key=f"revisit:{wo.id}:{row.round}",
            category=Category.COMPLAINT if about_service else wo.category,
            priority=Priority.GENERAL
            if about_service
            else Priority(wo.priority_raised_from or wo.priority),
            title=f"回访不满意跟进：{wo.title}"[:300],
            reported_at=now,
            asset_code=asset.code if asset else None,
            description=f"工单 {wo.code} 回访不满意（{which}）。{said}",
            assignee=assignee,
            zone_code=wo.zone_code,
            location=wo.location,
            details={"follow_up_of": wo.id, "revisit_id": row.id},
        ),
        now,
        actor=actor,
    )
    return made


class RevisitScore(BaseModel):
    item: str
    item_zh: str
    score: int


class RevisitView(BaseModel):
    """One revisit as the detail shows it, names and local time included."""

    id: int
    round: int
    at: datetime
    at_local: str
    due_at: datetime | None
    on_time: bool | None
    by: str
    by_name: str | None
    via: Via | None
    via_zh: str | None
    scores: list[RevisitScore]
    comment: str
    satisfied: bool | None
    unsatisfied: bool
    outcome: RevisitOutcome
    outcome_zh: str
    follow_up_id: int | None
    follow_up_code: str | None


def local_time(at: datetime, spec: SiteFile | None) -> str:
    """`11月23日 10:00`, in the site's time zone."""
    t = at.astimezone(spec.site.tz) if spec is not None else at
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def revisits_of(
    session: Session,
    work_order_id: int,
    spec: SiteFile | None,
    names: dict[str, str] | None = None,
) -> list[RevisitView]:
    """Every revisit of the order, oldest first; `names` maps an actor to what to show."""
    rows = list(
        session.scalars(
            select(WorkOrderRevisit)
            .where(WorkOrderRevisit.work_order_id == work_order_id)
            .order_by(WorkOrderRevisit.round)
        )
    )
    codes: dict[int, str | None] = {}
    wanted = [r.follow_up_id for r in rows if r.follow_up_id is not None]
    if wanted:
        codes = {
            order_id: code
            for order_id, code in session.execute(
                select(WorkOrder.id, WorkOrder.code).where(WorkOrder.id.in_(wanted))
            )
        }
    return [_view(r, spec, names or {}, codes) for r in rows]


def _view(
    r: WorkOrderRevisit, spec: SiteFile | None, names: dict[str, str], codes: dict[int, Any]
) -> RevisitView:
    scored = [(n, getattr(r, n)) for n in SCORE_ITEMS if getattr(r, n) is not None]
    outcome = RevisitOutcome(r.outcome)
    via = Via(r.via) if r.via else None
    return RevisitView(
        id=r.id,
        round=r.round,
        at=r.at,
        at_local=local_time(r.at, spec),
        due_at=r.due_at,
        on_time=r.at <= r.due_at if r.due_at is not None else None,
        by=r.actor,
        by_name=names.get(r.actor),
        via=via,
        via_zh=VIA_ZH[via] if via else None,
        scores=[RevisitScore(item=n, item_zh=SCORE_ZH[n], score=v) for n, v in scored],
        comment=r.comment,
        satisfied=all(v >= SATISFIED_FROM for _, v in scored) if scored else None,
        unsatisfied=any(v <= UNSATISFIED_UP_TO for _, v in scored),
        outcome=outcome,
        outcome_zh=REVISIT_OUTCOME_ZH[outcome],
        follow_up_id=r.follow_up_id,
        follow_up_code=codes.get(r.follow_up_id) if r.follow_up_id is not None else None,
    )
