"""Webhook subscriptions, their delivery log, 重新投递 (re-delivery) and 密钥轮换 (rotation)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from sqlalchemy import select

from api.auth import Principal
from api.deps import SITE_NOT_ALLOWED, Ctx, DbSession, Operator, RowId, audit
from api.models import WebhookDelivery, WebhookSubscription
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.schemas import DeliveryOut, SecretRotation, WebhookCreate, WebhookOut
from api.scopes import covers_all
from api.validation import SUBSCRIPTION_WIDER, scopes_in_body
from api.webhooks.delivery import EVENT_TYPES, new_secret, redeliver
from api.webhooks.targets import TargetRefused
from maintenance.notifications import Notification

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)


def _out(sub: WebhookSubscription, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=sub.id,
        url=sub.url,
        event_types=sub.event_types,
        sites=sub.sites,
        active=sub.active,
        created_at=sub.created_at,
        secret=secret,
        previous_secret_until=sub.previous_secret_until if sub.previous_secret else None,
    )


def _own(session: DbSession, caller: Principal, subscription_id: RowId) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise HTTPException(404, f"订阅 {subscription_id} 不存在 (unknown subscription)")
    if not covers_all(caller, sub.sites):
        raise HTTPException(status.HTTP_403_FORBIDDEN, SITE_NOT_ALLOWED)
    return sub


@router.post("", response_model=WebhookOut, status_code=status.HTTP_201_CREATED, summary="订阅事件")
def create_subscription(
    body: WebhookCreate, request: Request, ctx: Ctx, session: DbSession, caller: Operator
) -> WebhookOut:
    unknown = sorted(set(body.event_types) - set(EVENT_TYPES))
    if unknown:
        raise HTTPException(422, f"未知事件类型 (unknown event types): {', '.join(unknown)}")
    # sites, `region:<id>` (the region's sites at each event) or `*`, as a token's scopes
    scopes_in_body(ctx, caller, body.sites, wider=SUBSCRIPTION_WIDER)
    try:
        ctx.webhook_targets.check(body.url)  # a sync route: DNS blocks a worker thread only
    except TargetRefused as refused:
        raise ApiProblem(
            422, f"url: {refused.zh} ({refused.reason})", code="webhook_target_refused"
        ) from None
    secret = body.secret or new_secret()
    # start at the outbox's end: a new receiver gets what happens from now on
    last = session.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1))
    sub = WebhookSubscription(
        url=body.url,
        secret=secret,
        event_types=sorted(set(body.event_types)),
        sites=sorted(set(body.sites)),
        active=True,
        created_by=caller.name,
        created_at=ctx.clock.now(),
        cursor=last or 0,
    )
    session.add(sub)
    session.flush()
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"webhook:{sub.id}",
        status_code=201,
        detail={"url": body.url, "event_types": body.event_types, "sites": body.sites},
    )
    return _out(sub, secret)


@router.get("", response_model=list[WebhookOut], summary="订阅列表")
def list_subscriptions(session: DbSession, caller: Operator) -> list[WebhookOut]:
    subs = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [_out(s) for s in subs if covers_all(caller, s.sites)]


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, summary="停用订阅")
def deactivate(
    subscription_id: RowId, request: Request, ctx: Ctx, session: DbSession, caller: Operator
) -> None:
    sub = _own(session, caller, subscription_id)
    sub.active = False
    audit(session, ctx, caller, request, subject=f"webhook:{sub.id}", status_code=204)


@router.post("/{subscription_id}/rotate-secret", response_model=WebhookOut, summary="轮换签名密钥")
def rotate_secret(
    subscription_id: RowId,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
    body: Annotated[SecretRotation | None, Body()] = None,
) -> WebhookOut:
    """The new secret, shown once. Until `previous_secret_until` every delivery is signed with
    both (`v1=<new>,v1=<old>`), so the receiver can switch without refusing any delivery; a
    second rotation within the window drops the oldest secret at once."""
    rotation = body or SecretRotation()
    sub = _own(session, caller, subscription_id)
    secret = rotation.secret or new_secret()
    if rotation.overlap_seconds > 0:
        sub.previous_secret = sub.secret
        sub.previous_secret_until = ctx.clock.now() + timedelta(seconds=rotation.overlap_seconds)
    else:
        sub.previous_secret, sub.previous_secret_until = None, None
    sub.secret = secret
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"webhook:{sub.id}",
        status_code=200,
        detail={"overlap_seconds": rotation.overlap_seconds},
    )
    return _out(sub, secret)


@router.get("/{subscription_id}/deliveries", response_model=list[DeliveryOut], summary="投递记录")
def deliveries(
    subscription_id: RowId,
    session: DbSession,
    caller: Operator,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    _own(session, caller, subscription_id)
    q = (
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if state is not None:
        q = q.where(WebhookDelivery.state == state)
    return [DeliveryOut.model_validate(d) for d in session.scalars(q)]


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    summary="重新投递",
)
def post_redeliver(
    subscription_id: RowId,
    delivery_id: RowId,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    caller: Operator,
) -> DeliveryOut:
    _own(session, caller, subscription_id)
    d = session.get(WebhookDelivery, delivery_id)
    if d is None or d.subscription_id != subscription_id:
        raise HTTPException(404, f"投递 {delivery_id} 不存在 (unknown delivery)")
    redeliver(session, d, ctx.clock.now())
    audit(session, ctx, caller, request, subject=f"webhook_delivery:{d.id}", status_code=200)
    return DeliveryOut.model_validate(d)
