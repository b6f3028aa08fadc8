"""公告栏: notices to residents for planned work that takes equipment out of service.

A plan with `out_of_service` (an elevator maintenance window, a water-supply interruption) yields
one notice per occurrence and asset, to be posted `notice_days` before the work starts, with the
text ready for the notice board and the residents' group chat.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.orm import Session

from maintenance.plans.service import Plan, active_plans, occurrences, plan_assets
from propwatch.site import Asset, OutOfService, Site, SiteFile

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
HORIZON = timedelta(days=14)


class ResidentNotice(BaseModel):
    """One notice for the 公告栏."""

    plan_id: str
    asset_id: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    post_on: date
    title: str
    text: str


def _when(t: datetime, spec: SiteFile) -> str:
    local = t.astimezone(spec.site.tz)
    return f"{local:%Y年%m月%d日}（{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def _area(asset: Asset, spec: SiteFile) -> str:
    zone = spec.zone(asset.zone)
    return f"{zone.name}{asset.building}" if asset.building else zone.name


def notice_text(
    spec: SiteFile,
    plan_name: str,
    asset: Asset,
    window: OutOfService,
    starts_at: datetime,
    post_on: date,
) -> tuple[str, str]:
    """The title and the notice-board text (Chinese) for one out-of-service window."""
    ends_at = starts_at + timedelta(hours=window.hours)
    end_local = ends_at.astimezone(spec.site.tz)
    same_day = end_local.date() == starts_at.astimezone(spec.site.tz).date()
    until = f"{end_local:%H:%M}" if same_day else _when(ends_at, spec)
    span = f"{_when(starts_at, spec)}至{until}"
    signature = f"{spec.site.name}物业服务中心\n{post_on:%Y年%m月%d日}"
    if window.kind == "elevator":
        title = "停梯保养通知"
        body = (
            f"为保障电梯安全运行，依据《电梯维护保养规则》（TSG T5002），我司定于{span}"
            f"对{asset.name}进行{plan_name}。保养期间该电梯暂停使用，请您选择其他电梯或"
            "步行楼梯，老人、儿童上下楼请注意安全；如有搬运、就医等特殊需要，请提前联系"
            "物业服务中心安排。"
        )
    elif window.kind == "water_supply":
        title = "停水通知"
        body = (
            f"因{plan_name}（{asset.name}），定于{span}暂停{_area(asset, spec)}的生活用水供应。"
            "请您提前做好储水准备；停水期间请关闭家中水龙头，以免恢复供水时跑水；恢复供水"
            "初期水质如略有浑浊，放水片刻即可。"
        )
    else:
        title = "设施停用通知"
        body = f"因{plan_name}，定于{span}暂停使用{asset.name}（{_area(asset, spec)}）。"
    text = (
        f"【{title}】\n尊敬的各位业主、住户：\n{body}给您带来的不便，敬请谅解！"
        f"如有疑问，请联系物业服务中心。\n{signature}"
    )
    return title, text


def _plan_notices(
    plan: Plan, spec: SiteFile, after: datetime, until: datetime
) -> list[ResidentNotice]:
    window = plan.out_of_service
    if window is None or plan.meter is not None:
        return []
    out: list[ResidentNotice] = []
    assets = plan_assets(plan, spec)
    for occ in occurrences(plan, spec, after, until):
        if occ.due_at is None:
            continue
        post_on = occ.due_at.astimezone(spec.site.tz).date() - timedelta(days=window.notice_days)
        for asset in assets:
            title, text = notice_text(spec, plan.name, asset, window, occ.due_at, post_on)
            out.append(
                ResidentNotice(
                    plan_id=plan.id,
                    asset_id=asset.id,
                    kind=window.kind,
                    starts_at=occ.due_at,
                    ends_at=occ.due_at + timedelta(hours=window.hours),
                    post_on=post_on,
                    title=title,
                    text=text,
                )
            )
    return out


def resident_notices(
    session: Session, site: Site, now: datetime, horizon: timedelta = HORIZON
) -> list[ResidentNotice]:
    """Notices for work starting within `horizon` or still under way, soonest first."""
    longest = max(
        (p.out_of_service.hours for p in active_plans(session, site) if p.out_of_service),
        default=0.0,
    )
    after = now - timedelta(hours=longest)
    out: list[ResidentNotice] = []
    for plan in active_plans(session, site):
        if plan.enabled:
            out += [
                n for n in _plan_notices(plan, site.spec, after, now + horizon) if n.ends_at > now
            ]
    return sorted(out, key=lambda n: (n.starts_at, n.plan_id, n.asset_id))


def notices_to_post(session: Session, site: Site, now: datetime) -> list[ResidentNotice]:
    """公告栏 today: notices whose posting day has come and whose work has not ended."""
    today = now.astimezone(site.spec.site.tz).date()
    return [n for n in resident_notices(session, site, now) if n.post_on <= today]
