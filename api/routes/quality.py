"""物业质量监控 over HTTP: findings (巡查发现) and their rectifications (整改).

Any staff member (duty room, technicians; admin) records a finding of their site; it opens a
rectification at once (`maintenance.quality.service`). Steps go through `…/transitions` with the
`ETag` last read as `If-Match` (412 when stale), like work orders. A technician moves only the
rectifications assigned to them, and only to 整改中 or 已整改; 复查 belongs to the duty room (the
quality department's desk). Photos are stored like work-order attachments (same types, size
limit and type sniffing, `api.routes.attachments`) under
`<var_dir>/attachments/<site>/quality/…`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import ApiRole, Principal
from api.deps import AppContext, Ctx, DbSession, RowId, audit, require, site_of
from api.problems import PROBLEM, PROBLEM_RESPONSES, ApiProblem, Problem
from api.quality_schemas import (
    AccountabilityOut,
    AccountabilityRow,
    DeductionOut,
    EscalationOut,
    FindingCreate,
    InspectionCreate,
    InspectionOut,
    InspectionPage,
    NamedOption,
    PhotoOut,
    PlaceOption,
    PlaceOut,
    QualityFormOptions,
    RectificationOut,
    RectificationPage,
    ScoreSheetPage,
    SectionScore,
    StepOut,
    TransitionBody,
    WorkOrderLink,
)
from api.routes.attachments import _BY_EXT, _NAME, _store, refuse_declared_too_large
from api.routes.work_orders import _actor_names
from maintenance.errors import UnknownReference
from maintenance.quality import inspections, service
from maintenance.quality.escalation import escalations_of
from maintenance.quality.models import STATUS_ZH, Inspection, Rectification, RectificationStatus
from maintenance.quality.service import STEP_ZH, WORK_ORDER_STEP, local
from maintenance.work_orders.models import WorkOrder
from propwatch.quality import DEPARTMENT_ZH, SEVERITY_ZH, Department, FindingSeverity
from propwatch.site import Site

router = APIRouter(prefix="/api/v1/sites", tags=["quality"], responses=PROBLEM_RESPONSES)

Staff = Annotated[Principal, Depends(require(ApiRole.DUTY, ApiRole.TECHNICIAN))]


async def _site_staff(
    site_id: Annotated[str, PathParam(max_length=64)], ctx: Ctx, caller: Staff
) -> tuple[Site, Principal]:
    # a dependency, so another site's token is refused (403) before its body is read
    return site_of(ctx, caller, site_id), caller


SiteStaff = Annotated[tuple[Site, Principal], Depends(_site_staff)]

IfMatch = Annotated[
    str | None,
    Header(description="the ETag last read; a stale one is refused with 412", max_length=200),
]

FINDING_PHOTOS = "quality/findings"
EVIDENCE = "quality/rectifications"


def _folder(ctx: AppContext, site_id: str, kind: str, row_id: int) -> Path:
    return ctx.var_dir / "attachments" / site_id / kind / str(row_id)


def _photo(site_id: str, ref: str) -> PhotoOut:
    kind, _, rest = ref.rpartition("/")
    folder, _, row = kind.rpartition("/")
    route = "findings" if folder == FINDING_PHOTOS else "rectifications"
    leaf = "photos" if folder == FINDING_PHOTOS else "evidence"
    url = f"/api/v1/sites/{site_id}/{route}/{row}/{leaf}/{rest}"
    return PhotoOut(ref=ref, url=url, content_type=_BY_EXT.get(rest.rsplit(".", 1)[-1]))


def etag_of(rect: Rectification) -> str:
    raw = f"{rect.id}:{rect.status}:{rect.updated_at.isoformat()}:{len(rect.steps)}"
    raw += f":{rect.work_order_id}:{rect.assignee}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


def _view(
    session: Session, ctx: AppContext, site: Site, rect: Rectification, now: datetime
) -> RectificationOut:
    spec = site.spec
    names = {p.id: p.name for p in spec.people}
    finding = rect.finding
    # a token without a person reads as its role (值班员), as in the work orders' history
    actors = _actor_names(
        session, ctx, names, {s.actor for s in rect.steps} | {finding.reported_by}
    )
    kind = spec.quality.finding_type(finding.type_id)
    zone = next((z for z in spec.zones if z.id == rect.zone_code), None)
    severity = FindingSeverity(finding.severity)
    department = Department(rect.department)
    wo = session.get(WorkOrder, rect.work_order_id) if rect.work_order_id else None

    def step_name(to: str) -> str:
        if to == WORK_ORDER_STEP:
            return "关联工单"
        return STEP_ZH[RectificationStatus(to)]

    return RectificationOut(
        id=rect.id,
        site_id=rect.site_id,
        finding_id=finding.id,
        status=rect.status,
        status_zh=STATUS_ZH[RectificationStatus(rect.status)],
        severity=severity,
        severity_zh=SEVERITY_ZH[severity],
        type=finding.type_id,
        type_name=kind.name if kind else finding.type_id,
        place=PlaceOut(
            name=service.place_name(spec, finding),
            asset=finding.asset_code,
            place=finding.place_id,
            building=finding.building,
            floor=finding.floor,
            zone=rect.zone_code,
            zone_name=zone.name if zone else rect.zone_code,
        ),
        department=department,
        department_zh=DEPARTMENT_ZH[department],
        assignee=rect.assignee,
        assignee_name=names.get(rect.assignee, rect.assignee) if rect.assignee else None,
        requirement=rect.requirement,
        note=finding.note,
        photos=[_photo(rect.site_id, r) for r in finding.photos],
        reported_by=finding.reported_by,
        reported_by_name=actors.get(finding.reported_by, finding.reported_by),
        issued_at=rect.issued_at,
        deadline_at=rect.deadline_at,
        deadline_local=local(rect.deadline_at, spec),
        overdue=service.is_overdue(rect, now),
        recheck_failures=rect.recheck_failures,
        work_order_id=rect.work_order_id,
        work_order_code=wo.code if wo else None,
        updated_at=rect.updated_at,
        steps=[
            StepOut(
                at=s.at,
                at_local=local(s.at, spec),
                actor=s.actor,
                actor_name=actors.get(s.actor, s.actor),
                from_status=s.from_status,
                to_status=s.to_status,
                step=step_name(s.to_status),
                note=s.note,
                photos=[_photo(rect.site_id, r) for r in s.attachments],
            )
            for s in rect.steps
        ],
        escalations=[
            EscalationOut(
                step_id=e.step_id,
                action=e.action,
                fired_at=e.fired_at,
                fired_local=local(e.fired_at, spec),
                recipient=e.recipient,
                recipient_name=names.get(e.recipient, e.recipient) if e.recipient else None,
            )
            for e in escalations_of(session, rect.id)
        ],
        etag=etag_of(rect),
    )


def _detail(
    session: Session, ctx: AppContext, site: Site, rect: Rectification, response: Response
) -> RectificationOut:
    view = _view(session, ctx, site, rect, ctx.clock.now())
    response.headers["ETag"] = view.etag
    return view


def _rectification(
    session: Session, site: Site, rectification_id: int, lock: bool = False
) -> Rectification:
    rect = service.get_rectification(session, rectification_id, lock=lock)
    if rect.site_id != site.id:  # another site's id is unknown here, not forbidden
        raise ApiProblem(404, f"整改单 {rectification_id} 不存在 (rectification not found)")
    return rect


def _precondition(rect: Rectification, if_match: str | None) -> None:
    """412 unless `If-Match` names the current ETag (the row is locked by the caller)."""
    if if_match is None:
        return
    current = etag_of(rect)
    wanted = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in wanted and current not in wanted:
        raise ApiProblem(
            412,
            f"整改单已被他人修改，请刷新后重试 (rectification changed; current ETag {current})",
            code="stale_etag",
            headers={"ETag": current},
        )


def _actor(caller: Principal) -> str:
    return caller.person or caller.name


@router.post(
    "/{site_id}/findings",
    response_model=RectificationOut,
    status_code=201,
    summary="巡查发现: record a finding; answers with the rectification (整改) it opened",
)
def create_finding(
    body: FindingCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
) -> RectificationOut:
    site, caller = who
    rect = service.record_finding(
        session,
        site.spec,
        service.NewFinding(
            site_id=site.id,
            type_id=body.type,
            severity=body.severity,
            reported_by=_actor(caller),
            asset=body.asset,
            place=body.place,
            building=body.building,
            floor=body.floor,
            note=body.note,
            requirement=body.requirement,
        ),
        ctx.clock.now(),
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"rectification:{rect.id}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    response.headers["Location"] = f"/api/v1/sites/{site.id}/rectifications/{rect.id}"
    return _detail(session, ctx, site, rect, response)


@router.get(
    "/{site_id}/findings/{finding_id}",
    response_model=RectificationOut,
    summary="巡查发现详情: the finding with its rectification",
)
def get_finding(
    finding_id: RowId, response: Response, ctx: Ctx, session: DbSession, who: SiteStaff
) -> RectificationOut:
    site, _ = who
    finding = service.get_finding(session, finding_id)
    if finding.site_id != site.id:
        raise ApiProblem(404, f"巡查记录 {finding_id} 不存在 (finding not found)")
    return _detail(
        session, ctx, site, _rectification(session, site, finding.rectification.id), response
    )


_PHOTO_RESPONSES: dict[int | str, dict[str, object]] = {
    413: {
        "model": Problem,
        "content": {PROBLEM: {}},
        "description": "文件过大 (photo > 8 MB, video > the video limit, 50 MB)",
    },
    415: {
        "model": Problem,
        "content": {PROBLEM: {}},
        "description": "JPEG/PNG/WebP/PDF or MP4/WebM/MOV video only",
    },
    507: {"model": Problem, "content": {PROBLEM: {}}, "description": "附件存储不可用"},
}


def _upload(
    ctx: AppContext, request: Request, site_id: str, kind: str, row_id: int, file: UploadFile
) -> PhotoOut:
    refuse_declared_too_large(request, ctx)
    name, ctype, size = _store(file, _folder(ctx, site_id, kind, row_id), ctx.video_max_bytes)
    photo = _photo(site_id, f"{kind}/{row_id}/{name}")
    return photo.model_copy(update={"content_type": ctype, "size": size})


@router.post(
    "/{site_id}/findings/{finding_id}/photos",
    response_model=PhotoOut,
    status_code=201,
    summary="巡查照片: add a photo to a finding (multipart `file`)",
    responses=_PHOTO_RESPONSES,
)
def post_finding_photo(
    finding_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or PDF, at most 8 MB")],
) -> PhotoOut:
    site, caller = who
    finding = service.get_finding(session, finding_id)
    if finding.site_id != site.id:
        raise ApiProblem(404, f"巡查记录 {finding_id} 不存在 (finding not found)")
    photo = _upload(ctx, request, site.id, FINDING_PHOTOS, finding.id, file)
    finding.photos = [*finding.photos, photo.ref]
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"rectification:{finding.rectification.id}",
        status_code=201,
        detail={"photo": photo.ref, "size": photo.size},
    )
    response.headers["Location"] = photo.url
    return photo


@router.post(
    "/{site_id}/rectifications/{rectification_id}/evidence",
    response_model=PhotoOut,
    status_code=201,
    summary="整改证据: upload a photo, then name its ref in the step to rectified",
    responses=_PHOTO_RESPONSES,
)
def post_evidence(
    rectification_id: RowId,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or PDF, at most 8 MB")],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> PhotoOut:
    site, caller = who
    rect = _rectification(session, site, rectification_id)
    _may_work_on(caller, rect)
    photo = _upload(ctx, request, site.id, EVIDENCE, rect.id, file)
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"rectification:{rect.id}",
        status_code=201,
        detail={"evidence": photo.ref, "size": photo.size, "note": note},
    )
    response.headers["Location"] = photo.url
    return photo


def _serve(ctx: AppContext, site_id: str, kind: str, row_id: int, filename: str) -> FileResponse:
    path = _folder(ctx, site_id, kind, row_id) / filename
    if not _NAME.match(filename) or not path.is_file():
        raise ApiProblem(404, f"照片 {filename} 不存在 (photo not found)")
    return FileResponse(
        path,
        media_type=_BY_EXT[filename.rsplit(".", 1)[1]],
        headers={
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get(
    "/{site_id}/findings/{finding_id}/photos/{filename}",
    response_class=FileResponse,
    summary="下载巡查照片",
)
def get_finding_photo(
    finding_id: RowId,
    filename: Annotated[str, PathParam(max_length=64)],
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
) -> FileResponse:
    site, _ = who
    finding = service.get_finding(session, finding_id)
    if finding.site_id != site.id:
        raise ApiProblem(404, f"巡查记录 {finding_id} 不存在 (finding not found)")
    return _serve(ctx, site.id, FINDING_PHOTOS, finding.id, filename)


@router.get(
    "/{site_id}/rectifications/{rectification_id}/evidence/{filename}",
    response_class=FileResponse,
    summary="下载整改证据照片",
)
def get_evidence(
    rectification_id: RowId,
    filename: Annotated[str, PathParam(max_length=64)],
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
) -> FileResponse:
    site, _ = who
    rect = _rectification(session, site, rectification_id)
    return _serve(ctx, site.id, EVIDENCE, rect.id, filename)


@router.get(
    "/{site_id}/rectifications",
    response_model=RectificationPage,
    summary="整改列表: filters by status, severity, zone, department, assignee, overdue",
)
def list_rectifications(
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    status: RectificationStatus | None = None,
    severity: FindingSeverity | None = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
    department: Department | None = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool | None = None,
    after: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RectificationPage:
    site, _ = who
    if status is RectificationStatus.FAILED:
        raise ApiProblem(
            422,
            "复查不通过的整改单已退回整改中，请按 status=in_progress 查询 (failed is not a status)",
            code="invalid_filter",
        )
    if zone is not None and zone not in {z.id for z in site.spec.zones}:
        raise ApiProblem(422, f"片区 {zone} 不存在 (unknown zone)", code="unknown_zone")
    now = ctx.clock.now()
    rows = service.list_rectifications(
        session,
        service.RectificationFilter(
            site_id=site.id,
            status=status,
            severity=severity,
            zone=zone,
            department=department,
            assignee=assignee,
            overdue=overdue,
            limit=limit + 1,
            after_id=after,
        ),
        now,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RectificationPage(
        items=[_view(session, ctx, site, r, now) for r in rows],
        next_after=rows[-1].id if more else None,
    )


@router.get(
    "/{site_id}/rectifications/accountability",
    response_model=AccountabilityOut,
    summary="督促和问责: open, overdue and late rectifications per department and person",
)
def get_accountability(ctx: Ctx, session: DbSession, who: SiteStaff) -> AccountabilityOut:
    site, _ = who
    now = ctx.clock.now()
    departments, people = service.accountability(session, site.spec, site.id, now)
    return AccountabilityOut(
        site_id=site.id,
        at=now,
        departments=[AccountabilityRow(**vars(d)) for d in departments],
        people=[AccountabilityRow(**vars(p)) for p in people],
    )


@router.get(
    "/{site_id}/rectifications/{rectification_id}",
    response_model=RectificationOut,
    summary="整改详情 with ETag: steps (who, when), photos, escalations",
)
def get_rectification(
    rectification_id: RowId, response: Response, ctx: Ctx, session: DbSession, who: SiteStaff
) -> RectificationOut:
    site, _ = who
    return _detail(session, ctx, site, _rectification(session, site, rectification_id), response)


def _may_work_on(caller: Principal, rect: Rectification) -> None:
    if caller.role is ApiRole.TECHNICIAN and rect.assignee != caller.person:
        raise ApiProblem(
            403, "只能处理分派给自己的整改单 (not your rectification)", code="not_your_task"
        )


@router.post(
    "/{site_id}/rectifications/{rectification_id}/transitions",
    response_model=RectificationOut,
    summary="整改流转: in_progress, rectified (with evidence), passed, failed (If-Match)",
    responses={
        409: {"model": Problem, "content": {PROBLEM: {}}, "description": "当前状态不允许"},
        412: {"model": Problem, "content": {PROBLEM: {}}, "description": "ETag 已过期"},
    },
)
def post_transition(
    rectification_id: RowId,
    body: TransitionBody,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    if_match: IfMatch = None,
) -> RectificationOut:
    site, caller = who
    rect = _rectification(session, site, rectification_id, lock=True)
    _precondition(rect, if_match)
    to = RectificationStatus(body.to)
    if to in (RectificationStatus.PASSED, RectificationStatus.FAILED):
        if caller.role is ApiRole.TECHNICIAN:
            raise ApiProblem(403, "复查由值班室/品质部进行 (re-check is the duty room's)")
    else:
        _may_work_on(caller, rect)
    prefix = f"{EVIDENCE}/{rect.id}/"
    folder = _folder(ctx, site.id, EVIDENCE, rect.id)
    for i, ref in enumerate(body.evidence):
        name = ref.removeprefix(prefix)
        if not ref.startswith(prefix) or not _NAME.match(name) or not (folder / name).is_file():
            raise UnknownReference(
                {
                    f"evidence.{i}": (
                        f"证据照片 {ref} 不是本整改单上传的照片，请先上传到 …/evidence",
                        "evidence must be uploaded to this rectification first",
                    )
                }
            )
    rect = service.transition(
        session,
        site.spec,
        rect,
        to,
        actor=_actor(caller),
        now=ctx.clock.now(),
        note=body.note,
        evidence=body.evidence,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"rectification:{rect.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return _detail(session, ctx, site, rect, response)


@router.post(
    "/{site_id}/rectifications/{rectification_id}/work-order",
    response_model=RectificationOut,
    summary="整改需维修: open a work order for the finding's place, or link one (If-Match)",
)
def post_work_order(
    rectification_id: RowId,
    body: WorkOrderLink,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    if_match: IfMatch = None,
) -> RectificationOut:
    site, caller = who
    rect = _rectification(session, site, rectification_id, lock=True)
    _precondition(rect, if_match)
    _may_work_on(caller, rect)
    service.open_work_order(
        session,
        site.spec,
        rect,
        actor=_actor(caller),
        now=ctx.clock.now(),
        work_order_id=body.work_order_id,
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"rectification:{rect.id}",
        status_code=200,
        detail=body.model_dump(mode="json"),
    )
    return _detail(session, ctx, site, rect, response)


# -- 品质检查: scored inspections -----------------------------------------------------------

Inspector = Annotated[Principal, Depends(require(ApiRole.DUTY))]


async def _site_inspector(
    site_id: Annotated[str, PathParam(max_length=64)], ctx: Ctx, caller: Inspector
) -> tuple[Site, Principal]:
    return site_of(ctx, caller, site_id), caller


SiteInspector = Annotated[tuple[Site, Principal], Depends(_site_inspector)]


def _inspection_view(
    session: Session, ctx: AppContext, site: Site, row: Inspection
) -> InspectionOut:
    spec = site.spec
    names = {p.id: p.name for p in spec.people}
    actors = _actor_names(session, ctx, names, {row.inspector})
    zone = next((z for z in spec.zones if z.id == row.zone_code), None)
    findings = {d.finding_id for d in row.deductions}
    rects = (
        dict(
            session.execute(
                select(Rectification.finding_id, Rectification.id).where(
                    Rectification.finding_id.in_(findings)
                )
            ).all()
        )
        if findings
        else {}
    )
    return InspectionOut(
        id=row.id,
        site_id=row.site_id,
        sheet=row.sheet_id,
        sheet_name=row.sheet_name,
        zone=row.zone_code,
        zone_name=zone.name if zone else None,
        inspector=row.inspector,
        inspector_name=actors.get(row.inspector, row.inspector),
        inspected_at=row.inspected_at,
        inspected_local=local(row.inspected_at, spec),
        note=row.note,
        total=row.total,
        maximum=row.maximum,
        percent=row.percent,
        sections=[SectionScore.model_validate(s) for s in row.sections],
        deductions=[
            DeductionOut(
                section_id=d.section_id,
                item_id=d.item_id,
                rule_id=d.rule_id,
                count=d.count,
                points=d.points,
                note=d.note,
                finding_id=d.finding_id,
                rectification_id=rects[d.finding_id],
            )
            for d in row.deductions
        ],
    )


@router.get(
    "/{site_id}/score-sheets",
    response_model=ScoreSheetPage,
    summary="评分表: the site file's score sheets (sections, items, points, deduction rules)",
)
def get_score_sheets(who: SiteStaff) -> ScoreSheetPage:
    site, _ = who
    return ScoreSheetPage(items=[s.model_dump(mode="json") for s in site.spec.quality.score_sheets])


@router.get(
    "/{site_id}/quality/form-options",
    response_model=QualityFormOptions,
    summary="表单选项: places, assets, buildings and finding types for the phone forms",
)
def get_form_options(who: SiteStaff) -> QualityFormOptions:
    site, _ = who
    spec = site.spec
    return QualityFormOptions(
        places=[
            PlaceOption(id=p.id, name=p.name, zone=p.zone, building=p.building, floor=p.floor)
            for p in spec.quality.places
        ],
        assets=[NamedOption(id=a.id, name=a.name) for a in spec.assets],
        buildings=[b for z in spec.zones for b in z.buildings],
        finding_types=[NamedOption(id=t.id, name=t.name) for t in spec.quality.finding_types],
    )


@router.post(
    "/{site_id}/inspections",
    response_model=InspectionOut,
    status_code=201,
    summary="品质检查: score a sheet; totals computed here; each deduction opens a rectification",
)
def create_inspection(
    body: InspectionCreate,
    request: Request,
    response: Response,
    ctx: Ctx,
    session: DbSession,
    who: SiteInspector,
) -> InspectionOut:
    site, caller = who
    row = inspections.record_inspection(
        session,
        site.spec,
        inspections.NewInspection(
            site_id=site.id,
            sheet_id=body.sheet,
            inspector=_actor(caller),
            zone=body.zone,
            note=body.note,
            results=[
                inspections.ItemResult(
                    item=r.item,
                    not_applicable=r.not_applicable,
                    deductions=[inspections.DeductionIn(**d.model_dump()) for d in r.deductions],
                )
                for r in body.results
            ],
        ),
        ctx.clock.now(),
    )
    audit(
        session,
        ctx,
        caller,
        request,
        subject=f"inspection:{row.id}",
        status_code=201,
        detail=body.model_dump(mode="json"),
    )
    response.headers["Location"] = f"/api/v1/sites/{site.id}/inspections/{row.id}"
    return _inspection_view(session, ctx, site, row)


@router.get(
    "/{site_id}/inspections",
    response_model=InspectionPage,
    summary="检查记录: the site's inspections, newest first",
)
def get_inspections(
    ctx: Ctx,
    session: DbSession,
    who: SiteStaff,
    sheet: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InspectionPage:
    site, _ = who
    rows = inspections.list_inspections(session, site.id, sheet, limit)
    return InspectionPage(items=[_inspection_view(session, ctx, site, r) for r in rows])


@router.get(
    "/{site_id}/inspections/{inspection_id}",
    response_model=InspectionOut,
    summary="检查记录详情: section and item scores, deductions and their rectifications",
)
def get_inspection(
    inspection_id: RowId, ctx: Ctx, session: DbSession, who: SiteStaff
) -> InspectionOut:
    site, _ = who
    row = inspections.get_inspection(session, inspection_id)
    if row.site_id != site.id:
        raise ApiProblem(404, f"检查记录 {inspection_id} 不存在 (inspection not found)")
    return _inspection_view(session, ctx, site, row)
