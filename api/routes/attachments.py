"""附件: photos and documents on a work order, uploaded from the technician's phone.

An upload is stored under `<var_dir>/attachments/<site>/<work order>/<random name>` and recorded
at once as a 跟进记录 (a note transition) whose `attachments` holds its reference, so the audit
trail shows who added which photo when. The same reference may be sent again in the
`attachments` of a later transition or comment. Files are served back only to tokens that may
see the work order. The type is judged by the file's first bytes, not by what the client claims.

`GET …/attachments` lists the files still on the order. `DELETE …/attachments/{filename}`
removes one (a privacy request, a wrong photo): the duty room and the ticket system may delete
any, a technician only what they uploaded themselves. The deletion is recorded first (who, when,
and who had uploaded it when, `maintenance.work_orders.comments`), then the file goes; the
upload's comment keeps its reference, and fetching it answers 410.

A short video (MP4, WebM, QuickTime from an iPhone) may stand in for a photo where a still does
not show the fault (a noise, a door that does not close). It is copied to disk in chunks as it
arrives, never held whole in memory; its limit (`PROPWATCH_ATTACHMENT_VIDEO_MAX_MB`, 50 MB)
is larger than a photo's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.auth import ApiRole
from api.deps import AppContext, Ctx, DbSession, Reader, RowId, Worker, audit, visible_work_order
from api.models import AuditEntry
from api.problems import PROBLEM, PROBLEM_RESPONSES, ApiProblem, Problem
from api.work_order_schemas import AttachmentItem, AttachmentPage
from maintenance.work_orders import comments
from maintenance.work_orders.models import WorkOrder

router = APIRouter(prefix="/api/v1/work-orders", tags=["attachments"], responses=PROBLEM_RESPONSES)

log = logging.getLogger("propwatch.api.attachments")

MAX_BYTES = 8 * 1024 * 1024
"""Largest photo or document: a phone photo is 2–5 MB; larger is refused with 413."""

VIDEO_MAX_BYTES = 50 * 1024 * 1024
"""Largest video by default (about 30 s of phone video); `AppContext.video_max_bytes`."""

_CHUNK = 256 * 1024

# content type -> (extension, how the file starts)
_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/webp": ("webp", (b"RIFF",)),
    "application/pdf": ("pdf", (b"%PDF-",)),
    # ISO base media files start with a box size then `ftyp`; the brand tells QuickTime apart
    "video/mp4": ("mp4", ()),
    "video/quicktime": ("mov", ()),
    "video/webm": ("webm", (b"\x1a\x45\xdf\xa3",)),
}
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
_BY_EXT = {ext: ctype for ctype, (ext, _) in _TYPES.items()}
_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp|pdf|mp4|mov|webm)$")


class AttachmentOut(BaseModel):
    ref: str = Field(description="the reference kept on the work order's transitions")
    url: str = Field(description="where an authorised token can fetch the file")
    content_type: str
    size: int
    work_order_id: int


def _folder(ctx: AppContext, wo: WorkOrder) -> Path:
    return ctx.var_dir / "attachments" / wo.site_id / str(wo.id)


def _sniff(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    for ctype, (_, magics) in _TYPES.items():
        if any(head.startswith(m) for m in magics):
            if ctype == "image/webp" and head[8:12] != b"WEBP":
                continue
            return ctype
    return None


def _too_large(limit: int = MAX_BYTES, what: str = "文件") -> ApiProblem:
    return ApiProblem(
        413,
        f"{what}超过 {limit // (1024 * 1024)} MB 上限 (file too large)",
        code="attachment_too_large",
    )


def _store(
    upload: UploadFile, folder: Path, video_max: int = VIDEO_MAX_BYTES
) -> tuple[str, str, int]:
    """Copy the upload to `folder` under a fresh name; (name, content type, size).

    A photo or document may be `MAX_BYTES`, a video `video_max`; the copy stops at the first
    chunk past the limit and the partial file goes."""
    head = upload.file.read(16)
    ctype = _sniff(head)
    if ctype is None:
        raise ApiProblem(
            415,
            "只接受 JPEG、PNG、WebP 照片、PDF 文件或 MP4、WebM、MOV 视频 (unsupported file type)",
            code="attachment_type",
        )
    video = ctype in VIDEO_TYPES
    limit = video_max if video else MAX_BYTES
    name = f"{secrets.token_hex(16)}.{_TYPES[ctype][0]}"
    partial = folder / f".{name}.part"
    size = len(head)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            out.write(head)
            while chunk := upload.file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, "视频" if video else "文件")
                out.write(chunk)
        os.replace(partial, folder / name)
    except OSError as exc:  # a full disk or a read-only volume: say so, keep nothing half-written
        log.error("attachment not stored in %s: %s", folder, exc)
        raise ApiProblem(
            507,
            "附件存储失败，请稍后重试或联系管理员 (attachment storage unavailable)",
            code="attachment_storage",
        ) from exc
    finally:
        with contextlib.suppress(OSError):  # already reported above when the folder is unusable
            partial.unlink(missing_ok=True)
    return name, ctype, size


@router.post(
    "/{work_order_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="上传照片/附件 (multipart `file`, optional `note`); recorded as a 跟进记录",
    responses={
        413: {
            "model": Problem,
            "content": {PROBLEM: {}},
            "description": "文件过大 (photo/PDF > 8 MB, video > the video limit, 50 MB)",
        },
        415: {
            "model": Problem,
            "content": {PROBLEM: {}},
            "description": "JPEG/PNG/WebP/PDF or MP4/WebM/MOV only",
        },
        507: {"model": Problem, "content": {PROBLEM: {}}, "description": "附件存储不可用"},
    },
)
def upload_attachment(
    work_order_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    caller: Worker,
    file: Annotated[
        UploadFile,
        File(description="JPEG, PNG, WebP or PDF up to 8 MB; MP4, WebM or MOV video up to 50 MB"),
    ],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> AttachmentOut:
    refuse_declared_too_large(request, ctx)
    wo = visible_work_order(session, caller, work_order_id)
    name, ctype, size = _store(file, _folder(ctx, wo), ctx.video_max_bytes)
    ref = comments.upload_prefix(wo.id) + name
    comments.add_attachment(
        session,
        wo.id,
        ref,
        actor=caller.person or caller.name,
        now=ctx.clock.now(),
        note=note.strip() or f"上传附件 {file.filename or name}"[:2000],
        content_type=ctype,
        size=size,
    )
    url = f"/api/v1/work-orders/{wo.id}/attachments/{name}"
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"work_order:{wo.id}",
        status_code=201,
        detail={"attachment": ref, "content_type": ctype, "size": size, "note": note},
    )
    response.headers["Location"] = url
    return AttachmentOut(ref=ref, url=url, content_type=ctype, size=size, work_order_id=wo.id)


def refuse_declared_too_large(request: Request, ctx: AppContext) -> None:
    """413 before reading a body whose declared length passes every limit (the larger, video)."""
    declared = request.headers.get("content-length", "")
    largest = max(MAX_BYTES, ctx.video_max_bytes)
    if declared.isdigit() and int(declared) > largest + 64 * 1024:
        raise _too_large(largest)


@router.get(
    "/{work_order_id}/attachments/{filename}",
    response_class=FileResponse,
    summary="下载附件 (only for tokens that may see the work order)",
    responses={200: {"content": {c: {} for c in _TYPES}, "description": "the file"}},
)
def get_attachment(
    work_order_id: RowId,
    filename: Annotated[str, PathParam(max_length=64)],
    ctx: Ctx,
    session: DbSession,
    caller: Reader,
) -> FileResponse:
    wo = visible_work_order(session, caller, work_order_id)
    upload = _upload(session, wo, filename)
    if upload is not None and upload.deleted_at is not None:
        raise _deleted(upload)
    if not _NAME.match(filename) or not (_folder(ctx, wo) / filename).is_file():
        raise ApiProblem(404, f"附件 {filename} 不存在 (attachment not found)")
    return FileResponse(
        _folder(ctx, wo) / filename,
        media_type=_BY_EXT[filename.rsplit(".", 1)[1]],
        headers={
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def _upload(session: Session, wo: WorkOrder, filename: str) -> comments.Upload | None:
    ref = comments.upload_prefix(wo.id) + filename
    return next((u for u in comments.uploads_of(session, wo.id) if u.ref == ref), None)


def _deleted(upload: comments.Upload) -> ApiProblem:
    return ApiProblem(
        410,
        f"附件已于 {upload.deleted_at:%Y-%m-%d %H:%M} UTC 由 {upload.deleted_by} 删除 "
        "(attachment deleted)",
        code="attachment_deleted",
    )


@router.get(
    "/{work_order_id}/attachments",
    response_model=AttachmentPage,
    summary="附件列表: the files still on the order, oldest first",
)
def list_attachments(
    work_order_id: RowId, ctx: Ctx, session: DbSession, caller: Reader
) -> AttachmentPage:
    wo = visible_work_order(session, caller, work_order_id)
    folder = _folder(ctx, wo)
    items = []
    for upload in comments.uploads_of(session, wo.id):
        name = upload.ref.rsplit("/", 1)[-1]
        path = folder / name
        if upload.deleted_at is not None or not _NAME.match(name) or not path.is_file():
            continue
        items.append(
            AttachmentItem(
                filename=name,
                ref=upload.ref,
                url=f"/api/v1/work-orders/{wo.id}/attachments/{name}",
                content_type=_BY_EXT[name.rsplit(".", 1)[1]],
                size=path.stat().st_size,
                uploaded_at=upload.uploaded_at,
                uploaded_by=upload.uploaded_by,
                comment_id=upload.comment_id,
            )
        )
    return AttachmentPage(items=items)


@router.delete(
    "/{work_order_id}/attachments/{filename}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="删除附件: duty room and ticket system any, a technician their own upload; audited",
    responses={
        410: {"model": Problem, "content": {PROBLEM: {}}, "description": "已删除 (deleted before)"},
        507: {"model": Problem, "content": {PROBLEM: {}}, "description": "附件存储不可用"},
    },
)
def delete_attachment(
    work_order_id: RowId,
    filename: Annotated[str, PathParam(max_length=64)],
    request: Request,
    ctx: Ctx,
    caller: Worker,
) -> Response:
    # its own transaction, committed before the file goes: a deletion is never unrecorded
    with ctx.db.session() as session:
        wo = visible_work_order(session, caller, work_order_id)
        upload = _upload(session, wo, filename) if _NAME.match(filename) else None
        path = _folder(ctx, wo) / filename
        if upload is None:
            raise ApiProblem(404, f"附件 {filename} 不存在 (attachment not found)")
        if upload.deleted_at is not None:
            if not path.exists():
                raise _deleted(upload)
            # recorded before, but the file outlived it (the disk refused): try again
        else:
            actor = caller.person or caller.name
            if caller.role is ApiRole.TECHNICIAN and upload.uploaded_by != actor:
                raise ApiProblem(
                    403,
                    "维修人员只能删除自己上传的附件 (technicians delete only their own uploads)",
                    code="not_your_attachment",
                )
            size = path.stat().st_size if path.is_file() else None
            comments.delete_attachment(session, wo.id, upload, actor=actor, now=ctx.clock.now())
            session.add(
                AuditEntry(
                    at=ctx.clock.now(),
                    actor=caller.name,
                    role=caller.role.value,
                    method=request.method,
                    path=request.url.path,
                    subject=f"work_order:{wo.id}",
                    status_code=204,
                    detail={
                        "attachment": upload.ref,
                        "size": size,
                        "uploaded_by": upload.uploaded_by,
                        "uploaded_at": upload.uploaded_at.isoformat(),
                        "comment_id": upload.comment_id,
                    },
                )
            )
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # recorded as deleted and no longer served; a repeat removes it
        log.error("attachment %s recorded as deleted but not removed: %s", path, exc)
        raise ApiProblem(
            507,
            "附件已删除，但文件未能从存储中移除，请稍后重试 (file not removed; retry)",
            code="attachment_storage",
        ) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
