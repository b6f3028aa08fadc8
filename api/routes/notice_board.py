"""公告栏 (`/notices?site=`): the residents' notice board of one site, public and printable.

Public on purpose, like the paper board in the lobby: it shows only what is posted there anyway,
the planned outages the plans generate (`maintenance.notices`): what stops, where and when. No
token, no names of staff, no orders. The page is rendered here, without a script, so it prints
and reads on any phone; an unknown site is a 404 page that names no site.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import Ctx, DbSession
from api.routes.pages import CSP
from maintenance.notices import WEEKDAYS, ResidentNotice, resident_notices
from propwatch.site import Site

router = APIRouter(include_in_schema=False)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _when(t: datetime, site: Site) -> str:
    local = t.astimezone(site.spec.site.tz)
    return f"{local.month}月{local.day}日（{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def _span(n: ResidentNotice, site: Site) -> str:
    tz = site.spec.site.tz
    same_day = n.starts_at.astimezone(tz).date() == n.ends_at.astimezone(tz).date()
    until = f"{n.ends_at.astimezone(tz):%H:%M}" if same_day else _when(n.ends_at, site)
    return f"{_when(n.starts_at, site)} 至 {until}"


def _notice(n: ResidentNotice, site: Site, now: datetime) -> str:
    state = "进行中" if n.starts_at <= now else "即将进行"
    lines = "".join(f"<p>{escape(line)}</p>" for line in n.text.split("\n")[1:] if line)
    return (
        f'<article class="notice" data-kind="{escape(n.kind)}">'
        f'<h3>{escape(n.title)} <span class="state">{state}</span></h3>'
        f'<p class="when">时间：{escape(_span(n, site))}</p>{lines}</article>'
    )


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/style.css">'
        '<link rel="stylesheet" href="/static/daily.css">'
        '<link rel="stylesheet" href="/static/notices.css"></head>'
        f'<body class="daily notices"><main class="sheet">{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@router.get("/notices")
def notice_board(
    ctx: Ctx, session: DbSession, site: str = Query("", max_length=64)
) -> HTMLResponse:
    """公告栏: the current and upcoming notices of `site` (the next 14 days), soonest first."""
    found = ctx.sites.get(site)
    if found is None:
        return _page("公告栏", "<h2>公告栏</h2><p>未找到该小区的公告栏，请核对链接。</p>", 404)
    now = ctx.clock.now()
    notices = resident_notices(session, found, now)
    name = escape(found.spec.site.name)
    items = "".join(_notice(n, found, now) for n in notices) or (
        '<p class="empty">近期没有停水、停梯等计划停用安排。</p>'
    )
    local = now.astimezone(found.spec.site.tz)
    body = (
        f"<header><h2>{name} 公告栏</h2><p>近期计划停用安排（未来 14 天）</p></header>"
        f'<section class="board">{items}</section>'
        f'<p class="note">{name}物业服务中心 · 更新于 {local.month}月{local.day}日 '
        f"{local:%H:%M}</p>"
    )
    return _page(f"{found.spec.site.name} 公告栏", body)
