"""A plan's recurrence as the duty room says it: 每月5日 09:00, 每2周 周一 09:00, 每天 09:00、16:00.

The site file keeps RRULE, cron, an interval or a meter; pages and reports show this sentence
beside it. What the sentence cannot say plainly is shown as written, after a plain prefix.
"""

from __future__ import annotations

_FREQ = {
    "DAILY": ("天", "天"),
    "WEEKLY": ("周", "周"),
    "MONTHLY": ("月", "个月"),
    "YEARLY": ("年", "年"),
}
_WEEK = ("周日", "周一", "周二", "周三", "周四", "周五", "周六")
_DAY = dict(zip(("SU", "MO", "TU", "WE", "TH", "FR", "SA"), _WEEK, strict=True))
_CRON_DAY = {str(i): d for i, d in enumerate(_WEEK)} | {"7": "周日"}
_METRIC = {"run_hours": "累计运行", "starts": "启动次数"}
_UNIT = {"h": "小时", "": "次"}


def _times(hours: list[str], minutes: list[str]) -> str:
    minute = minutes[0] if len(minutes) == 1 else "0"
    return "、".join(f"{int(h):02d}:{int(minute):02d}" for h in hours)


def rrule_zh(expr: str) -> str:
    """FREQ with INTERVAL, BYMONTH, BYMONTHDAY, BYDAY (without a position) and BYHOUR/BYMINUTE."""
    parts = dict(p.split("=", 1) for p in expr.removeprefix("RRULE:").split(";") if "=" in p)
    freq = _FREQ.get(parts.get("FREQ", ""))
    known = {"FREQ", "INTERVAL", "BYMONTHDAY", "BYDAY", "BYMONTH", "BYHOUR", "BYMINUTE"}
    if freq is None or set(parts) - known or not parts.get("INTERVAL", "1").isdigit():
        return f"按规则 {expr}"
    interval = int(parts.get("INTERVAL", "1"))
    out = f"每{freq[0]}" if interval == 1 else f"每{interval}{freq[1]}"
    if "BYMONTH" in parts:
        out += "".join(f"{int(m)}月" for m in parts["BYMONTH"].split(","))
    if "BYMONTHDAY" in parts:
        out += "、".join(f"{int(d)}日" for d in parts["BYMONTHDAY"].split(","))
    if "BYDAY" in parts:
        days = [_DAY.get(d) for d in parts["BYDAY"].split(",")]
        if None in days:
            return f"按规则 {expr}"
        named = "、".join(d for d in days if d)
        out = f"每{named}" if out == "每周" else f"{out} {named}"
    if "BYHOUR" in parts:
        out += " " + _times(parts["BYHOUR"].split(","), parts.get("BYMINUTE", "0").split(","))
    return out


def cron_zh(expr: str) -> str:
    """The common shapes (minute hour * * day-of-week, minute hour day * *); others as written."""
    fields = expr.split()
    if len(fields) != 5 or not all(f.isdigit() for f in fields[:2]):
        return f"定时 {expr}"
    minute, hour, day, month, weekday = fields
    at = f"{int(hour):02d}:{int(minute):02d}"
    if day == "*" and month == "*" and weekday == "*":
        return f"每天 {at}"
    if day == "*" and month == "*" and all(d in _CRON_DAY for d in weekday.split(",")):
        return "每" + "、".join(_CRON_DAY[d] for d in weekday.split(",")) + f" {at}"
    if day.isdigit() and month == "*" and weekday == "*":
        return f"每月{int(day)}日 {at}"
    return f"定时 {expr}"


def every_zh(seconds: float) -> str:
    """An interval in the largest whole unit."""
    for size, unit in ((86400, "天"), (3600, "小时"), (60, "分钟")):
        if seconds >= size and seconds % size == 0:
            n = seconds / size
            return f"每{unit}" if n == 1 and unit != "分钟" else f"每{n:g}{unit}"
    return f"每{seconds:g}秒"


def meter_zh(metric: str, every: float, unit: str) -> str:
    """计量保养: 累计运行每2000小时."""
    return f"{_METRIC.get(metric, metric)}每{every:g}{_UNIT.get(unit, unit)}"


def after_completion_zh(seconds: float) -> str:
    """浮动计划: 上次完成后90天."""
    for size, unit in ((86400, "天"), (3600, "小时")):
        if seconds >= size and seconds % size == 0:
            return f"上次完成后{seconds / size:g}{unit}"
    return f"上次完成后{seconds / 3600:.1f}小时"
