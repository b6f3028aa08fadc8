"""通知投递记录: the delivery log of the notification channels (企业微信, 钉钉, e-mail, webhook),
and 重发 of a delivery that was given up. For the duty room and admins of the sites concerned."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import Ctx, DbSession, Duty, RowId, audit, check_site
from api.problems import PROBLEM_RESPONSES
from api.schemas import NotificationDeliveryPage
from api.work_order_list import cursor_values, encode_cursor, invalid_cursor
from maintenance.notify import delivery_log
from maintenance.notify.delivery_log import DeliveryDetail, DeliveryFilter, State
from propwatch.site import SiteFile

router = APIRouter(
    prefix="/api/v1/notifications", tags=["notifications"], responses=PROBLEM_RESPONSES
)

_MAX_ID = 2_147_483_647


def _specs(ctx: Ctx) -> dict[str, SiteFile]:
    return {site_id: site.spec for site_id, site in ctx.sites.items()}


def _before(cursor: str) -> int:
    [last] = cursor_values(cursor, 1)
    if not isinstance(last, int) or isinstance(last, bool) or not 1 <= last <= _MAX_ID:
        raise invalid_cursor()
    return last


@router.get(
    "/deliveries",
    response_model=NotificationDeliveryPage,
    summary="通知投递记录, newest first (filter, cursor pagination)",
)
def list_deliveries(
    ctx: Ctx,
    session: DbSession,
    caller: Duty,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    channel_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[State | None, Query(description="failed: given up after the last try")] = None,
    topic: Annotated[str | None, Query(max_length=64)] = None,
    work_order_id: Annotated[int | None, Query(ge=1, le=_MAX_ID)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NotificationDeliveryPage:
    sites = caller.site_filter()
    if site_id is not None:
        check_site(caller, site_id)
        sites = [site_id]
    wanted = DeliveryFilter(
        sites=tuple(sites) if sites is not None else None,
        channel_id=channel_id,
        state=state,
        topic=topic,
        work_order_id=work_order_id,
    )
    before = _before(cursor) if cursor else None
    items, more = delivery_log.list_deliveries(
        session, wanted, _specs(ctx), before_id=before, limit=limit
    )
    return NotificationDeliveryPage(
        items=items, next_cursor=encode_cursor([items[-1].id]) if more and items else None
    )


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="one delivery with every try",
)
def get_delivery(delivery_id: RowId, ctx: Ctx, session: DbSession, caller: Duty) -> DeliveryDetail:
    d = delivery_log.get_delivery(session, delivery_id)
    check_site(caller, d.site_id)
    return delivery_log.delivery_detail(session, d, _specs(ctx))


@router.post(
    "/deliveries/{delivery_id}/resend",
    response_model=DeliveryDetail,
    summary="重发: send a given-up delivery again",
)
def post_resend(
    delivery_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Duty
) -> DeliveryDetail:
    check_site(caller, delivery_log.get_delivery(session, delivery_id).site_id)
    d = delivery_log.resend(session, delivery_id, ctx.clock.now())
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"notification_delivery:{d.id}",
        status_code=200,
        detail={"channel_id": d.channel_id, "notification_id": d.notification_id},
    )
    return delivery_log.delivery_detail(session, d, _specs(ctx))
