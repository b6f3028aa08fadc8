"""二维码标签: A4 sheets of QR labels for a site's assets, buildings or public places.

A report label (扫码报修) opens the residents' scan page `/report?site=&asset=` (or `building=`,
`place=`); a patrol label (巡更签到) opens the staff check-in page `/patrol?site=&point=` with an
asset or place id. The links start with `PROPWATCH_PUBLIC_BASE_URL`, the address residents'
phones reach the API at; unset, the address this request came to.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from api.deps import Ctx, Duty, site_of
from api.exports.label_sheet import Label, label_sheet
from api.exports.pdf import PDF, pdf_response
from api.problems import PROBLEM_RESPONSES
from propwatch.config_errors import unknown_reference
from propwatch.site import SiteFile

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["sites"], responses=PROBLEM_RESPONSES)


class LabelKind(StrEnum):
    ASSET = "asset"
    BUILDING = "building"
    PLACE = "place"


class LabelPurpose(StrEnum):
    REPORT = "report"  # 扫码报修, for residents
    PATROL = "patrol"  # 巡更签到, for staff


INSTRUCTION = {LabelPurpose.REPORT: "扫码报修", LabelPurpose.PATROL: "巡更签到"}
KIND_ZH = {LabelKind.ASSET: "设备", LabelKind.BUILDING: "楼栋", LabelKind.PLACE: "公共区域"}


def _where(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _targets(spec: SiteFile, kind: LabelKind, zone: str | None) -> list[tuple[str, str, str]]:
    """(query value, name, where it is) of each thing of `kind` (in `zone`, or every zone), in
    the site file's order."""
    zones = {z.id: z.name for z in spec.zones}

    def wanted(zone_id: str) -> bool:
        return zone is None or zone_id == zone

    if kind is LabelKind.ASSET:
        return [
            (a.id, a.name, _where(zones.get(a.zone, ""), a.building, a.location))
            for a in spec.assets
            if wanted(a.zone)
        ]
    if kind is LabelKind.BUILDING:
        seen: dict[str, str] = {}
        for z in spec.zones:
            for b in z.buildings if wanted(z.id) else []:
                seen.setdefault(b, z.name)
        return [(b, b, zone_name) for b, zone_name in seen.items()]
    return [
        (
            p.id,
            p.name,
            _where(zones.get(p.zone, ""), p.building, f"{p.floor}层" if p.floor else ""),
        )
        for p in spec.quality.places
        if wanted(p.zone)
    ]


def label_url(base: str, site_id: str, kind: LabelKind, purpose: LabelPurpose, value: str) -> str:
    """The address a label's QR code holds."""
    if purpose is LabelPurpose.REPORT:
        query = urlencode({"site": site_id, kind.value: value}, quote_via=quote)
        return f"{base}/report?{query}"
    query = urlencode({"site": site_id, "point": value}, quote_via=quote)
    return f"{base}/patrol?{query}"


@router.get(
    "/labels.pdf",
    summary="二维码标签: an A4 PDF of QR labels, 扫码报修 for residents or 巡更签到 for patrols",
    response_class=Response,
    responses=PDF,
)
def get_labels(
    site_id: str,
    request: Request,
    ctx: Ctx,
    caller: Duty,
    kind: Annotated[LabelKind, Query(description="asset, building or place")],
    purpose: Annotated[
        LabelPurpose, Query(description="report (扫码报修) or patrol (巡更签到)")
    ] = LabelPurpose.REPORT,
    zone: Annotated[
        str | None, Query(max_length=64, description="only this zone's (片区) labels")
    ] = None,
) -> Response:
    site = site_of(ctx, caller, site_id)
    if zone is not None and zone not in {z.id for z in site.spec.zones}:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "zone"),
                    "msg": unknown_reference("片区", "zone", zone, (z.id for z in site.spec.zones)),
                    "type": "value_error",
                }
            ]
        )
    if purpose is LabelPurpose.PATROL and kind is LabelKind.BUILDING:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "kind"),
                    "msg": "巡更点是设备或公共区域，楼栋没有巡更签到码 "
                    "(a patrol point is an asset or a place, not a building)",
                    "type": "value_error",
                }
            ]
        )
    base = (ctx.public_base_url or str(request.base_url)).rstrip("/")
    labels = [
        Label(
            url=label_url(base, site_id, kind, purpose, value),
            name=name,
            location=where,
            instruction=INSTRUCTION[purpose],
        )
        for value, name, where in _targets(site.spec, kind, zone)
    ]
    body = label_sheet(site.spec.site.name, labels)
    stem = f"{site.spec.site.name}{KIND_ZH[kind]}{INSTRUCTION[purpose]}标签"
    return pdf_response(body, stem, f"labels-{site_id}-{kind.value}-{purpose.value}")
