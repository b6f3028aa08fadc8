"""The duty-room (值班室), all-sites overview (全部项目总览), technician (我的任务) and device
(设备详情) pages: static files that call the JSON API.

Everything they load comes from this server (`/static/...`); the Content-Security-Policy
forbids any other origin, so a page can never pull a script or font from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/")
@router.get("/duty")
def duty_room() -> FileResponse:
    """值班室: alarms, open orders with their SLA countdown, assets, lighting, stocktake."""
    return _page("duty.html")


@router.get("/overview")
def all_sites_overview() -> FileResponse:
    """全部项目总览: every site of the token by region, the worst first, and the month's league."""
    return _page("overview.html")


@router.get("/daily")
def daily_report() -> FileResponse:
    """日报: a day of one site on paper, for the morning meeting and the notice board."""
    return _page("daily.html")


@router.get("/service-report")
def service_report() -> FileResponse:
    """服务报告 (`?site=&month=`): a month beside the plan's targets, for the notice board."""
    return _page("service_report.html")


@router.get("/tasks")
def my_tasks() -> FileResponse:
    """我的任务: the technician's phone page."""
    return _page("tasks.html")


@router.get("/patrol")
def patrol_check_in() -> FileResponse:
    """巡更签到 (`?site=&point=`): the page a patrol point's QR label opens, on the phone."""
    return _page("patrol.html")


@router.get("/device")
def device_view() -> FileResponse:
    """设备详情 (`?site=&asset=`): live values, state, trend, alarms, orders, plans, record."""
    return _page("device.html")


@router.get("/forecast")
def plan_forecast() -> FileResponse:
    """工作量预测: the plan orders and labour hours of the coming days per zone and person."""
    return _page("forecast.html")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
