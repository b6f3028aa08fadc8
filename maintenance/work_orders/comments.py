"""跟进记录与附件: comments on a work order, and the photos and documents uploaded to it.

A comment is a `Step.NOTE` step of the audit trail (its id, author, time, text and attachment
references), so the trail stays the one history of an order; an upload is a comment whose
attachment is the file just stored. Each is announced on the outbox, `work_order.commented` or
`work_order.attachment_added`, to the assignee unless they wrote it.

Deleting an attachment removes the file but not its history: a `Step.ATTACHMENT_DELETED` step
records who deleted which reference when, and who had uploaded it when; the upload's comment
keeps its text and reference (`work_order.attachment_deleted`, a `work_order.changed` event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from maintenance.notifications import notify
from maintenance.work_orders.models import Step, WorkOrder, WorkOrderTransition
from maintenance.work_orders.service import _payload, get_work_order

EXCERPT = 200
"""Characters of a comment in the outbox message (the payload carries all of it)."""


@dataclass(frozen=True)
class Upload:
    """An attachment uploaded to an order, from its audit trail."""

    ref: str
    comment_id: int
    uploaded_at: datetime
    uploaded_by: str
    deleted_at: datetime | None = None
    deleted_by: str | None = None


def upload_prefix(work_order_id: int) -> str:
    """The reference of every file uploaded to this order starts with this."""
    return f"attachments/{work_order_id}/"


def add_comment(
    session: Session,
    work_order_id: int,
    *,
    actor: str,
    now: datetime,
    text: str,
    attachments: Sequence[str] = (),
) -> WorkOrderTransition:
    """跟进记录: a comment (with attachment references) and no change of status."""
    wo = get_work_order(session, work_order_id)
    comment = _note(session, wo, actor, now, text, attachments)
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.commented",
        message=f"工单 {wo.code} 新跟进（{actor}）：{_excerpt(text)}",
        at=now,
        work_order_id=wo.id,
        recipient=wo.assignee if wo.assignee != actor else None,
        payload={
            **_payload(wo),
            "comment_id": comment.id,
            "author": actor,
            "text": text,
            "attachments": list(attachments),
        },
    )
    return comment


def add_attachment(
    session: Session,
    work_order_id: int,
    ref: str,
    *,
    actor: str,
    now: datetime,
    note: str,
    content_type: str,
    size: int,
) -> WorkOrderTransition:
    """An uploaded file, recorded as a comment holding its reference."""
    wo = get_work_order(session, work_order_id)
    comment = _note(session, wo, actor, now, note, [ref])
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.attachment_added",
        message=f"工单 {wo.code} 新附件（{actor}）：{_excerpt(note)}",
        at=now,
        work_order_id=wo.id,
        recipient=wo.assignee if wo.assignee != actor else None,
        payload={
            **_payload(wo),
            "comment_id": comment.id,
            "author": actor,
            "attachment": ref,
            "content_type": content_type,
            "size": size,
        },
    )
    return comment


def comments_of(session: Session, work_order_id: int) -> list[WorkOrderTransition]:
    """Every comment of the order, oldest first."""
    return list(
        session.scalars(
            select(WorkOrderTransition)
            .where(
                WorkOrderTransition.work_order_id == work_order_id,
                WorkOrderTransition.to_status == Step.NOTE,
            )
            .order_by(WorkOrderTransition.id)
        )
    )


def uploads_of(session: Session, work_order_id: int) -> list[Upload]:
    """Every file uploaded to the order, oldest first, with its deletion if it was deleted."""
    prefix = upload_prefix(work_order_id)
    uploads: dict[str, Upload] = {}
    steps = session.scalars(
        select(WorkOrderTransition)
        .where(
            WorkOrderTransition.work_order_id == work_order_id,
            WorkOrderTransition.to_status.in_([Step.NOTE, Step.ATTACHMENT_DELETED]),
        )
        .order_by(WorkOrderTransition.id)
    )
    for step in steps:
        for ref in step.attachments:
            if not ref.startswith(prefix):
                continue  # a reference to a file elsewhere, given in a comment
            if step.to_status == Step.NOTE and ref not in uploads:
                uploads[ref] = Upload(ref, step.id, step.at, step.actor)
            elif step.to_status == Step.ATTACHMENT_DELETED and ref in uploads:
                first = uploads[ref]
                uploads[ref] = Upload(
                    ref, first.comment_id, first.uploaded_at, first.uploaded_by, step.at, step.actor
                )
    return list(uploads.values())


def delete_attachment(
    session: Session, work_order_id: int, upload: Upload, *, actor: str, now: datetime
) -> WorkOrderTransition:
    """删除附件: record the deletion (the caller removes the file once this is committed)."""
    wo = get_work_order(session, work_order_id, lock=True)
    name = upload.ref.rsplit("/", 1)[-1]
    note = (
        f"删除附件 {name}（{upload.uploaded_by} 于 "
        f"{upload.uploaded_at:%Y-%m-%d %H:%M} UTC 上传，跟进记录 {upload.comment_id}）"
    )
    step = WorkOrderTransition(
        work_order_id=wo.id,
        at=now,
        actor=actor,
        from_status=wo.status,
        to_status=Step.ATTACHMENT_DELETED,
        note=note,
        attachments=[upload.ref],
    )
    session.add(step)
    wo.updated_at = now
    session.flush()
    notify(
        session,
        site_id=wo.site_id,
        topic="work_order.attachment_deleted",
        message=f"工单 {wo.code} {note}（{actor}）",
        at=now,
        work_order_id=wo.id,
        payload={
            **_payload(wo),
            "actor": actor,
            "attachment": upload.ref,
            "uploaded_by": upload.uploaded_by,
            "uploaded_at": upload.uploaded_at.isoformat(),
            "comment_id": upload.comment_id,
        },
    )
    return step


def _note(
    session: Session,
    wo: WorkOrder,
    actor: str,
    now: datetime,
    text: str,
    attachments: Sequence[str],
) -> WorkOrderTransition:
    step = WorkOrderTransition(
        work_order_id=wo.id,
        at=now,
        actor=actor,
        from_status=wo.status,
        to_status=Step.NOTE,
        note=text,
        attachments=list(attachments),
    )
    session.add(step)
    wo.updated_at = now
    session.flush()
    return step


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"
