"""服务报告 as PDF: the month's figures of the site and of each zone beside the plan's targets,
laid out to be printed and posted on the notice board (公示栏: 月度工作报告)."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from api.exports.pdf import cjk_font
from maintenance.service_report import ServiceFigure, ServiceReport

MET_ZH = {True: "达标", False: "未达标", None: "—"}


def _month_zh(month: str) -> str:
    year, number = month.split("-")
    return f"{year}年{int(number)}月"


def _period_zh(month: str) -> str:
    """统计期间 of a month: 2026年11月1日至11月30日."""
    year, number = (int(part) for part in month.split("-"))
    last = (date(year + number // 12, number % 12 + 1, 1) - timedelta(days=1)).day
    return f"统计期间：{year}年{number}月1日至{number}月{last}日"


def _basis(f: ServiceFigure) -> str:
    if f.of is None or f.count is None or f.key == "complaints":
        return ""
    if f.key == "complaint_rate":
        return f"{f.count} 件 / {f.of} 户"
    return f"{f.count} / {f.of}"


def _style(font: str) -> TableStyle:
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), font, 10),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8899aa")),
            ("ALIGN", (1, 0), (-1, -1), "CENTER"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 4),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ]
    )


def service_report_pdf(report: ServiceReport, posted_on: date) -> bytes:
    """The PDF of `report`, signed by the site's 物业服务中心 on `posted_on` (a local date)."""
    font = cjk_font()
    title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24, alignment=1)
    heading = ParagraphStyle("heading", fontName=font, fontSize=13, leading=18, spaceBefore=8)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK")
    sign = ParagraphStyle("sign", parent=body, alignment=2)
    subtitle = ParagraphStyle("subtitle", parent=body, alignment=1)
    story: list[Flowable] = [
        Paragraph(f"{report.site_name} 月度工作报告", title),
        Paragraph(f"{_month_zh(report.month)} 服务报告（公示）", subtitle),
        Paragraph(_period_zh(report.month), subtitle),
        Spacer(1, 4 * mm),
        Paragraph("全小区", heading),
    ]
    site = report.site
    rows = [["指标", "本月", "计算", "目标", "是否达标"]] + [
        [f.name, f.shown, _basis(f), f.target_shown or "—", MET_ZH[f.met]] for f in site.figures
    ]
    table = Table(rows, colWidths=[55 * mm, 28 * mm, 35 * mm, 28 * mm, 24 * mm])
    table.setStyle(_style(font))
    story.append(table)
    if site.households:
        story.append(Paragraph(f"总户数 {site.households} 户。", body))
    if report.zones:
        story.append(Paragraph("各片区", heading))
        names = [f.name for f in site.figures]
        small = ParagraphStyle("small", fontName=font, fontSize=8, leading=10, alignment=1)
        zone_rows: list[list[object]] = [[Paragraph(n, small) for n in ["片区", *names]]]
        zone_rows += [[z.name, *(f.shown for f in z.figures)] for z in report.zones]
        zones = Table(zone_rows, colWidths=[30 * mm] + [20 * mm] * len(names))
        zones.setStyle(_style(font))
        story.append(zones)
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            "说明：满意度为回访三项评分均不低于 4 分的比例；投诉复发率为同一位置、同类投诉 "
            "30 日内再次发生的比例；维修响应以报修后 8 小时内接单计，紧急维修以 1 小时内到场计；"
            "回访率为需回访的已关闭工单中已回访的比例。",
            body,
        ),
        Spacer(1, 8 * mm),
        Paragraph(f"{report.site_name}物业服务中心", sign),
        Paragraph(f"{posted_on.year}年{posted_on.month}月{posted_on.day}日", sign),
    ]
    out = BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"{report.site_name} {_month_zh(report.month)} 服务报告",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    doc.build(story)
    return out.getvalue()
