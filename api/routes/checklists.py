"""检查表: the checklist of a plan or patrol work order, as the technician fills it in.

Recording an item is `POST /api/v1/work-orders/{id}/checklist` (in `work_orders`); this reads
the items with what has been recorded so far.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import DbSession, Reader, RowId, visible_work_order
from api.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"], responses=PROBLEM_RESPONSES)


class ChecklistItemOut(BaseModel):
    id: str
    text: str
    measurement: bool
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    result: str | None = None  # "pass", "fail", "n/a" (不适用) or not yet recorded
    value: float | None = None
    recorded_by: str | None = None
    recorded_at: str | None = None
    note: str | None = None


def _item(raw: dict[str, Any]) -> ChecklistItemOut:
    return ChecklistItemOut(
        id=str(raw.get("id", "")),
        text=str(raw.get("text", "")),
        measurement=bool(raw.get("measurement")),
        unit=raw.get("unit"),
        low=raw.get("low"),
        high=raw.get("high"),
        result=raw.get("result"),
        value=raw.get("value"),
        recorded_by=raw.get("recorded_by"),
        recorded_at=raw.get("recorded_at"),
        note=raw.get("note"),
    )


@router.get(
    "/{work_order_id}/checklist",
    response_model=list[ChecklistItemOut],
    summary="检查表: the items with what has been recorded (empty when the order has none)",
)
def get_checklist(
    work_order_id: RowId, session: DbSession, caller: Reader
) -> list[ChecklistItemOut]:
    wo = visible_work_order(session, caller, work_order_id)
    items = wo.details.get("checklist")
    if not isinstance(items, list):
        return []
    return [_item(i) for i in items if isinstance(i, dict)]
