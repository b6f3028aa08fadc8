"""The parts lines of a work order as the API shows them, in its parts route and its detail."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from api.parts_schemas import PartLineOut
from maintenance.parts import service
from maintenance.parts.models import LINE_STATE_ZH, LineState
from maintenance.parts.quantities import line_cost_fen, price, quantity

ActorNames = Callable[[set[str]], Mapping[str, str]]
"""The names the pages show for a set of actors (people and tokens)."""


def line_views(
    session: Session, work_order_id: int, names: ActorNames
) -> tuple[list[PartLineOut], str]:
    """The order's lines and its parts cost (材料费), as the order's detail shows them too."""
    rows = service.lines_of(session, work_order_id)
    by = names({r.line.added_by for r in rows}) if rows else {}
    lines = [
        PartLineOut(
            id=r.line.id,
            part=r.part.code,
            part_name=r.part.name,
            spec=r.part.spec,
            unit=r.part.unit,
            store=r.store.code,
            store_name=r.store.name,
            quantity=str(quantity(r.line.quantity_milli)),
            state=LineState(r.line.state),
            state_zh=LINE_STATE_ZH[LineState(r.line.state)],
            unit_price=str(price(r.unit_price_fen)),
            cost=str(price(cost)) if (cost := r.cost_fen) is not None else None,
            amount=str(price(line_cost_fen(r.line.quantity_milli, r.unit_price_fen))),
            added_by=r.line.added_by,
            added_by_name=by.get(r.line.added_by, r.line.added_by),
            added_at=r.line.added_at,
        )
        for r in rows
    ]
    return lines, str(price(service.parts_cost_fen(rows)))
