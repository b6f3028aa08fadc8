"""扫码报修 for residents, without an account: the scan page's API, the tracking link, 催单 and
the resident's 回访评价; and the 报修人 of an order for staff (phones masked but for 客服).

The public routes (`/api/v1/public/...`) take no token. What stands in for one: the site and
the spot in the code, which must exist (404 in zh-CN otherwise), per phone and per address
limits (429 with `Retry-After`), size limits (413), and on the tracking routes the link's
random token, whose SHA-256 alone is stored. See `maintenance.residents.service`.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.auth import ApiRole, Principal
from api.deps import AppContext, Ctx, DbSession, RowId, require, visible_work_order
from api.problems import PROBLEM, PROBLEM_RESPONSES, ApiProblem, Problem
from api.rate_limit import retry_after
from api.routes.attachments import MAX_BYTES
from api.routes.attachments import _sniff as sniff
from api.routes.attachments import _store as store_upload
from api.routes.pages import _page
from maintenance.residents import service as residents
from maintenance.residents.phones import masked, normalised
from maintenance.residents.service import Reporter, Tracking
from maintenance.work_orders import comments
from maintenance.work_orders.revisits import local_time
from propwatch.site import Site, SiteFile

router = APIRouter(prefix="/api/v1/public", tags=["residents"], responses=PROBLEM_RESPONSES)
staff_router = APIRouter(prefix="/api/v1/work-orders", tags=["residents"])
pages_router = APIRouter(include_in_schema=False)

log = logging.getLogger("propwatch.api.residents")

MAX_PHOTOS = 3
MAX_BODY = MAX_PHOTOS * MAX_BYTES + 64 * 1024
"""The largest report: three photos at their limit and the form's text."""
TOKEN = r"^[A-Za-z0-9_-]{20,64}$"

Token = Annotated[str, PathParam(pattern=TOKEN, description="the tracking link's token")]
ReportersReader = Annotated[
    Principal,
    Depends(require(ApiRole.DUTY, ApiRole.TECHNICIAN, ApiRole.INTEGRATION, ApiRole.SERVICE)),
]
"""Staff who may list an order's 报修人; only `service` (and admin) read the phones whole."""


def _site(ctx: AppContext, site_id: str) -> Site:
    site = ctx.sites.get(site_id)
    if site is None:
        raise ApiProblem(404, "二维码无效：找不到该小区 (unknown site)", code="unknown_site")
    return site


def _spot(site: Site, asset: str | None, building: str | None, place: str | None) -> residents.Spot:
    return residents.locate(site.spec, asset=asset, building=building, place=place)


class KindOut(BaseModel):
    id: str
    label: str


class SpotOut(BaseModel):
    """What the scan page shows before the resident writes: where, and what may be reported."""

    site_id: str
    site_name: str
    place: str
    kinds: list[KindOut]
    max_photos: int
    max_photo_mb: int


@router.get("/sites/{site_id}/spot", response_model=SpotOut, summary="扫码: where the code points")
def get_spot(
    site_id: Annotated[str, PathParam(max_length=64)],
    ctx: Ctx,
    asset: Annotated[str | None, Query(max_length=64)] = None,
    building: Annotated[str | None, Query(max_length=100)] = None,
    place: Annotated[str | None, Query(max_length=64)] = None,
) -> SpotOut:
    site = _site(ctx, site_id)
    spot = _spot(site, asset, building, place)
    return SpotOut(
        site_id=site.id,
        site_name=site.spec.site.name,
        place=spot.name,
        kinds=[KindOut(id=k.id, label=k.label) for k in residents.KINDS],
        max_photos=MAX_PHOTOS,
        max_photo_mb=MAX_BYTES // (1024 * 1024),
    )


class ReportOut(BaseModel):
    """The answer to a report: the resident's own tracking link and nothing of anyone else."""

    tracking_url: str = Field(description="/track/<token>: the resident's own link, shown once")
    code: str | None
    title: str
    joined: bool = Field(description="joined an open order of the same spot (报修人 +1)")
    reporters: int
    phone: str = Field(description="the phone, masked: 138****0002")
    photos: int


def _is_photo(upload: UploadFile) -> bool:
    """Judged by the first bytes, as the attachment store does; no video or PDF from a resident."""
    head = upload.file.read(16)
    upload.file.seek(0)
    return (sniff(head) or "").startswith("image/")


def _too_many(text: str, wait: float) -> ApiProblem:
    return ApiProblem(429, text, code="rate_limited", headers={"Retry-After": retry_after(wait)})


@router.post(
    "/sites/{site_id}/reports",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
    summary="扫码报修 (multipart: asset|building|place, kind, description, phone, room, photos)",
    responses={
        413: {"model": Problem, "content": {PROBLEM: {}}, "description": "照片或请求过大"},
        429: {"model": Problem, "content": {PROBLEM: {}}, "description": "报修过于频繁"},
    },
)
def post_report(
    site_id: Annotated[str, PathParam(max_length=64)],
    request: Request,
    ctx: Ctx,
    session: DbSession,
    kind: Annotated[str, Form(max_length=32)],
    description: Annotated[str, Form(min_length=1, max_length=1000)],
    phone: Annotated[str, Form(max_length=32)],
    room: Annotated[str | None, Form(max_length=32)] = None,
    asset: Annotated[str | None, Form(max_length=64)] = None,
    building: Annotated[str | None, Form(max_length=100)] = None,
    place: Annotated[str | None, Form(max_length=64)] = None,
    photos: Annotated[list[UploadFile] | None, File(description="up to 3 photos")] = None,
) -> ReportOut:
    at = ctx.clock.monotonic()
    address = request.client.host if request.client else "unknown"
    wait = ctx.resident.address_wait(address, at)
    if wait is not None:
        raise _too_many("提交过于频繁，请稍后再试 (too many reports from this address)", wait)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiProblem(413, "提交内容过大 (request too large)", code="report_too_large")
    site = _site(ctx, site_id)
    spot = _spot(site, asset, building, place)
    at_fault: dict[str, tuple[str, str]] = {}
    chosen = residents.KIND_BY_ID.get(kind)
    if chosen is None:
        at_fault["kind"] = ("请选择报修类别", f"unknown kind {kind!r}")
    number = normalised(phone)
    if number is None:
        at_fault["phone"] = ("请填写 11 位手机号码", "phone must be an 11-digit mobile number")
    if not description.strip():
        at_fault["description"] = ("请描述遇到的问题", "description is empty")
    files = [p for p in photos or [] if p.filename or p.size]
    if len(files) > MAX_PHOTOS:
        at_fault["photos"] = (f"最多上传 {MAX_PHOTOS} 张照片", f"at most {MAX_PHOTOS} photos")
    elif not all(_is_photo(p) for p in files):
        at_fault["photos"] = ("只能上传 JPEG、PNG 或 WebP 照片", "photos must be JPEG, PNG or WebP")
    if at_fault:
        raise residents.InvalidReport(at_fault)
    assert chosen is not None and number is not None
    wait = ctx.resident.phone_wait(number, at)
    if wait is not None:
        raise _too_many("该手机号报修过于频繁，请稍后再试 (too many reports from this phone)", wait)
    now = ctx.clock.now()
    made = residents.submit(
        session,
        site.spec,
        residents.NewReport(
            site_id=site.id,
            spot=spot,
            kind=chosen,
            description=description.strip(),
            phone=number,
            room=(room or "").strip() or None,
        ),
        ctx.resident.vault(ctx.var_dir),
        now,
    )
    wo = made.work_order
    folder = ctx.var_dir / "attachments" / wo.site_id / str(wo.id)
    stored: list[Path] = []
    try:
        for i, upload in enumerate(files, start=1):
            name, ctype, size = store_upload(upload, folder)
            stored.append(folder / name)
            comments.add_attachment(
                session,
                wo.id,
                comments.upload_prefix(wo.id) + name,
                actor=residents.RESIDENT,
                now=now,
                note=f"住户报修照片 {i}",
                content_type=ctype,
                size=size,
            )
    except BaseException:  # nothing kept: the transaction rolls back, and the files go too
        for path in stored:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    log.info(
        "resident report on %s %s: order %s%s, %d photos",
        site.id,
        spot.key,
        wo.code,
        " (joined)" if made.joined else "",
        len(files),
    )
    return ReportOut(
        tracking_url=f"/track/{made.token}",
        code=wo.code,
        title=wo.title,
        joined=made.joined,
        reporters=residents.reporter_count(session, wo.id),
        phone=masked(number),
        photos=len(files),
    )


@router.get("/track/{token}", response_model=Tracking, summary="跟踪: the order's progress")
def get_tracking(token: Token, ctx: Ctx, session: DbSession) -> Tracking:
    return residents.tracking(session, _spec_of(ctx, session, token), token, ctx.clock.now())


def _spec_of(ctx: AppContext, session: Session, token: str) -> SiteFile:
    report = residents.report_of(session, token)
    site = ctx.sites.get(report.site_id)
    if site is None:
        raise residents.NoSuchTracking("跟踪链接无效或已失效", "the order's site is not served")
    return site.spec


class ReminderOut(BaseModel):
    at: datetime
    at_local: str
    next_allowed_local: str
    notified: int = Field(description="people told: the assignee and the zone supervisor")


@router.post(
    "/track/{token}/reminders",
    response_model=ReminderOut,
    status_code=status.HTTP_201_CREATED,
    summary="催单: tell the assignee and the zone supervisor (once per order in 4 h)",
    responses={429: {"model": Problem, "content": {PROBLEM: {}}, "description": "4 小时内已催单"}},
)
def post_reminder(token: Token, ctx: Ctx, session: DbSession) -> ReminderOut:
    spec = _spec_of(ctx, session, token)
    now = ctx.clock.now()
    try:
        row, notified = residents.remind(session, spec, token, now)
    except residents.TooSoon as exc:
        wait = (exc.allowed_at - now).total_seconds()
        raise _too_many(exc.zh, wait) from exc
    return ReminderOut(
        at=row.at,
        at_local=local_time(row.at, spec),
        next_allowed_local=local_time(row.at + residents.REMIND_EVERY, spec),
        notified=notified,
    )


class ResidentRevisitIn(BaseModel):
    """回访评价 by the resident: 响应速度, 维修质量, 服务态度 (whole numbers 1–5) and a comment."""

    response: int = Field(ge=1, le=5, description="响应速度")
    quality: int = Field(ge=1, le=5, description="维修质量")
    attitude: int = Field(ge=1, le=5, description="服务态度")
    comment: str = Field(default="", max_length=1000)


@router.post(
    "/track/{token}/revisit",
    response_model=Tracking,
    summary="回访评价 by the resident, once the order is closed (via resident_link)",
)
def post_revisit(token: Token, body: ResidentRevisitIn, ctx: Ctx, session: DbSession) -> Tracking:
    spec = _spec_of(ctx, session, token)
    now = ctx.clock.now()
    scores = residents.ResidentScores(
        body.response, body.quality, body.attitude, body.comment.strip()
    )
    residents.revisit(session, spec, token, scores, now)
    return residents.tracking(session, spec, token, now)


@staff_router.get(
    "/{work_order_id}/reporters",
    response_model=list[Reporter],
    responses=PROBLEM_RESPONSES,
    summary="报修人: the residents behind the order; phones masked except for 客服 (service)",
)
def get_reporters(
    work_order_id: RowId, ctx: Ctx, session: DbSession, caller: ReportersReader
) -> list[Reporter]:
    wo = visible_work_order(session, caller, work_order_id)
    whole = caller.role in (ApiRole.SERVICE, ApiRole.ADMIN)
    site = ctx.sites.get(wo.site_id)
    vault = ctx.resident.vault(ctx.var_dir) if whole else None
    return residents.reporters_of(session, site.spec if site else None, wo.id, vault)


@pages_router.get("/report")
def scan_page() -> FileResponse:
    """扫码报修 (`?site=&asset=|building=|place=`): the resident's phone page, no account."""
    return _page("report.html")


@pages_router.get("/track/{token}")
def tracking_page(token: Annotated[str, PathParam(max_length=64)]) -> FileResponse:
    """报修进度 (`/track/<token>`): progress, 催单 and 回访评价 of the resident's own order."""
    del token  # read by the page from its own address
    return _page("track.html")
