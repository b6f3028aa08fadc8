"""附件: photos and documents on a work order, uploaded from the technician's phone.

An upload is stored under `<var_dir>/attachments/<site>/<work order>/<random name>` and recorded
at once as a 跟进记录 (a note transition) whose `attachments` holds its reference, so the audit
trail shows who added which photo when. The same reference may be sent again in the
`attachments` of a later transition or comment. Files are served back only to tokens that may
see the work order. The type is judged by the file's first bytes, not by what the client claims.
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

from api.deps import AppContext, Ctx, DbSession, Reader, RowId, Worker, audit, visible_work_order
from api.problems import PROBLEM, PROBLEM_RESPONSES, ApiProblem, Problem
from maintenance.work_orders import service
from maintenance.work_orders.models import WorkOrder

router = APIRouter(prefix="/api/v1/work-orders", tags=["attachments"], responses=PROBLEM_RESPONSES)

log = logging.getLogger("propwatch.api.attachments")

MAX_BYTES = 8 * 1024 * 1024
"""Largest upload: a phone photo is 2–5 MB; larger is refused with 413."""

_CHUNK = 256 * 1024

# content type -> (extension, how the file starts)
_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/webp": ("webp", (b"RIFF",)),
    "application/pdf": ("pdf", (b"%PDF-",)),
}
_BY_EXT = {ext: ctype for ctype, (ext, _) in _TYPES.items()}
_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp|pdf)$")


class AttachmentOut(BaseModel):
    ref: str = Field(description="the reference kept on the work order's transitions")
    url: str = Field(description="where an authorised token can fetch the file")
    content_type: str
    size: int
    work_order_id: int


def _folder(ctx: AppContext, wo: WorkOrder) -> Path:
    return ctx.var_dir / "attachments" / wo.site_id / str(wo.id)


def _sniff(head: bytes) -> str | None:
    for ctype, (_, magics) in _TYPES.items():
        if any(head.startswith(m) for m in magics):
            if ctype == "image/webp" and head[8:12] != b"WEBP":
                continue
            return ctype
    return None


def _too_large() -> ApiProblem:
    return ApiProblem(
        413,
        f"文件超过 {MAX_BYTES // (1024 * 1024)} MB 上限 (file too large)",
        code="attachment_too_large",
    )


def _store(upload: UploadFile, folder: Path) -> tuple[str, str, int]:
    """Copy the upload to `folder` under a fresh name; (name, content type, size)."""
    head = upload.file.read(16)
    ctype = _sniff(head)
    if ctype is None:
        raise ApiProblem(
            415,
            "只接受 JPEG、PNG、WebP 照片或 PDF 文件 (unsupported file type)",
            code="attachment_type",
        )
    name = f"{secrets.token_hex(16)}.{_TYPES[ctype][0]}"
    partial = folder / f".{name}.part"
    size = len(head)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            out.write(head)
            while chunk := upload.file.read(_CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise _too_large()
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
        413: {"model": Problem, "content": {PROBLEM: {}}, "description": "文件过大 (> 8 MB)"},
        415: {"model": Problem, "content": {PROBLEM: {}}, "description": "JPEG/PNG/WebP/PDF only"},
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
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or PDF, at most 8 MB")],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> AttachmentOut:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES + 64 * 1024:
        raise _too_large()
    wo = visible_work_order(session, caller, work_order_id)
    name, ctype, size = _store(file, _folder(ctx, wo))
    ref = f"attachments/{wo.id}/{name}"
    service.annotate(
        session,
        wo.id,
        actor=caller.person or caller.name,
        now=ctx.clock.now(),
        note=note.strip() or f"上传附件 {file.filename or name}"[:2000],
        attachments=[ref],
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
