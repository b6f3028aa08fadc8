"""计划周期校验: every schedule a site file, a template or the API can give a plan, checked the
same way by `propwatch check-config`, by the API and by the scheduler before it runs.

Why one function for all three: a schedule `check-config` accepted must never fail at run time,
and one the scheduler refuses must already be refused when the file is checked. Each problem
names the field in the words of the cron or RRULE syntax a site engineer writes (`小时 0–23`,
`星期 0–7 或 mon–sun`), with the allowed range, in zh-CN or English (`propwatch.messages`).

A maintenance plan falls due at most once an hour (`MIN_GAP`): a minutely cron is a mistake in a
保养计划 (it would open sixty work orders an hour per asset), and it is what made a plan preview
enumerate half a million times. Cron is the five-field crontab of Vixie cron, whose day of week
counts from Sunday = 0 (7 is Sunday too); a cron giving both a day of month and a day of week is
refused, since cron fires on either one while readers expect both (write an RRULE for that).
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

from dateutil.rrule import rrule, rrulestr

from propwatch.config_file import Loc, format_loc, line_of
from propwatch.durations import parse_seconds
from propwatch.messages import say

MIN_GAP = timedelta(hours=1)
"""The shortest time between two occurrences of one plan."""

HORIZON = timedelta(days=3660)
"""How far ahead an RRULE is enumerated to find its shortest gap and whether it ever fires."""

HOURLY_HORIZON = timedelta(days=366)
"""The same for an hourly rule, which dateutil walks hour by hour (a year of it costs ~0.5 s)."""

MAX_INTERVAL = 10000
"""The largest INTERVAL or COUNT (an hourly rule every 10,000 hours is already over a year)."""

SAMPLE = 2000
"""Occurrences of an RRULE compared for the shortest gap (a rule repeats its pattern well
within this many)."""

DEFAULT_START = datetime(2026, 1, 1, 0, 0)
"""Local time every plan counts from unless it says otherwise (fixes INTERVAL phases)."""

MAX_AFTER_SUNSET = timedelta(hours=6)
"""The latest a night-lighting check may follow sunset: later, a winter night's check would
meet the lamps already switched off by their timers (and a summer one the sunrise)."""


@dataclass(frozen=True)
class ScheduleProblem:
    """One wrong schedule: the field it concerns (`cron`, `rrule`, `every`, `after_sunset`)."""

    field: str
    zh: str
    en: str

    def text(self) -> str:
        return say(self.zh, self.en)


# --- cron ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CronField:
    zh: str
    en: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is the value low + i
    names_text: str = ""

    def allowed(self) -> tuple[str, str]:
        zh = f"{self.zh} {self.low}–{self.high}"
        en = f"{self.en} {self.low}–{self.high}"
        if self.names_text:
            zh += f" 或 {self.names_text}"
            en += f" or {self.names_text}"
        return zh, en


_MONTHS = tuple(m.lower() for m in calendar.month_abbr[1:])
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_FIELDS = (
    _CronField("分钟", "minute", 0, 59),
    _CronField("小时", "hour", 0, 23),
    _CronField("日", "day of month", 1, 31),
    _CronField("月", "month", 1, 12, _MONTHS, "jan–dec"),
    _CronField("星期", "day of week", 0, 7, _WEEKDAYS, "mon–sun"),
)
_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>[^/]*))?$")


def _whole(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes `²` and `٣`, which `int` refuses or reads."""
    return text.isascii() and text.isdigit()


class _CronRefusal(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def _cron_value(f: _CronField, token: str) -> int:
    allowed_zh, allowed_en = f.allowed()
    if _whole(token):
        value = int(token)
        if not f.low <= value <= f.high:
            raise _CronRefusal(
                f"{f.zh} {value} 超出范围：{allowed_zh}",
                f"{f.en} {value} is out of range: {allowed_en}",
            )
        return value
    if token in f.names:
        return f.low + f.names.index(token)
    guess = difflib.get_close_matches(token, f.names, n=1)
    hint_zh = f"（是不是 {guess[0]}？）" if guess else ""
    hint_en = f" (did you mean {guess[0]}?)" if guess else ""
    raise _CronRefusal(
        f"{f.zh} “{token}” 无法识别{hint_zh}：{allowed_zh}",
        f"{f.en} {token!r} is not recognised{hint_en}: {allowed_en}",
    )


def _cron_field(f: _CronField, text: str) -> set[int]:
    out: set[int] = set()
    for item in text.lower().split(","):
        m = _ITEM.match(item)
        if m is None:
            raise _CronRefusal(
                f"{f.zh} “{item}” 不是 cron 的写法（数字、a-b、*、*/n，用逗号分隔）",
                f"{f.en} {item!r} is not cron syntax (a number, a-b, *, */n, comma-separated)",
            )
        step = 1
        if m.group("step") is not None:
            raw = m.group("step")
            if not _whole(raw) or int(raw) == 0:
                raise _CronRefusal(
                    f"{f.zh} “{item}” 的步长须为正整数",
                    f"{f.en} {item!r}: the step must be a whole number above 0",
                )
            step = int(raw)
        part = m.group("range")
        if part == "*":
            first, last = f.low, f.high
        elif "-" in part:
            a, b = part.split("-")
            first, last = _cron_value(f, a), _cron_value(f, b)
            if first > last:
                raise _CronRefusal(
                    f"{f.zh} 范围 “{part}” 的起点大于终点",
                    f"{f.en} range {part!r} starts after it ends",
                )
        else:
            first = _cron_value(f, part)
            last = f.high if m.group("step") is not None else first
        out.update(range(first, last + 1, step))
    return out


@dataclass(frozen=True)
class CronSchedule:
    """A parsed five-field cron, and the form APScheduler's CronTrigger reads the same way."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    for_apscheduler: str


@lru_cache(maxsize=1024)
def _parse_cron(expr: str) -> CronSchedule | ScheduleProblem:
    fields = expr.split()
    if len(fields) != 5:
        return ScheduleProblem(
            "cron",
            f"cron 须为 5 个字段（分钟 小时 日 月 星期），“{expr}” 有 {len(fields)} 个",
            f"cron needs 5 fields (minute hour day-of-month month day-of-week), "
            f"{expr!r} has {len(fields)}",
        )
    try:
        values = [_cron_field(f, text) for f, text in zip(_CRON_FIELDS, fields, strict=True)]
    except _CronRefusal as exc:
        return ScheduleProblem("cron", f"cron “{expr}”：{exc.zh}", f"cron {expr!r}: {exc.en}")
    minutes, hours, days, months, weekdays = values
    weekdays = {d % 7 for d in weekdays}
    if fields[2] != "*" and fields[4] != "*":
        return ScheduleProblem(
            "cron",
            f"cron “{expr}” 同时限定了日和星期：cron 在两者任一满足时触发，容易误读；"
            "请只限定其一，或改用 rrule",
            f"cron {expr!r} restricts both the day of month and the day of week: cron fires "
            "when either matches, which reads as both; restrict one, or write an rrule",
        )
    if len(minutes) > 1:
        return ScheduleProblem(
            "cron",
            f"cron “{expr}” 每小时触发 {len(minutes)} 次：保养计划最多每小时一次，"
            "分钟字段只能写一个数",
            f"cron {expr!r} fires {len(minutes)} times an hour: a maintenance plan falls due "
            "at most once an hour, so the minute field takes one number",
        )
    longest = max(29 if m == 2 else calendar.monthrange(2024, m)[1] for m in months)
    if fields[4] == "*" and min(days) > longest:
        month_zh = "、".join(f"{m} 月" for m in sorted(months))
        return ScheduleProblem(
            "cron",
            f"cron “{expr}” 永远不会到期：{month_zh}没有 {min(days)} 日",
            f"cron {expr!r} never falls due: month {', '.join(map(str, sorted(months)))} "
            f"has no day {min(days)}",
        )
    dow = ",".join(_WEEKDAYS[d] for d in sorted(weekdays)) if fields[4] != "*" else "*"
    return CronSchedule(
        frozenset(minutes),
        frozenset(hours),
        frozenset(days),
        frozenset(months),
        frozenset(weekdays),
        " ".join([*fields[:4], dow]),
    )


def cron_problem(expr: str) -> ScheduleProblem | None:
    parsed = _parse_cron(expr)
    return parsed if isinstance(parsed, ScheduleProblem) else None


def cron_for_apscheduler(expr: str) -> str:
    """The cron with its day of week spelt as names (APScheduler 3 counts from Monday = 0 and
    reads `*/2` and `0-3` on that count); `ValueError` with the problem for a wrong cron."""
    parsed = _parse_cron(expr)
    if isinstance(parsed, ScheduleProblem):
        raise ValueError(parsed.en)
    return parsed.for_apscheduler


# --- RRULE -----------------------------------------------------------------------------------

_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_TOO_OFTEN = ("MINUTELY", "SECONDLY")
_DAY = r"(?:MO|TU|WE|TH|FR|SA|SU)"
_RRULE_LISTS: dict[str, tuple[int, int, bool, str, str]] = {
    # part: (low, high, negatives allowed, zh, en)
    "BYSECOND": (0, 59, False, "秒", "second"),
    "BYMINUTE": (0, 59, False, "分钟", "minute"),
    "BYHOUR": (0, 23, False, "小时", "hour"),
    "BYMONTHDAY": (1, 31, True, "日", "day of month"),
    "BYYEARDAY": (1, 366, True, "一年中的第几天", "day of year"),
    "BYWEEKNO": (1, 53, True, "周数", "week number"),
    "BYMONTH": (1, 12, False, "月", "month"),
    "BYSETPOS": (1, 366, True, "序号", "set position"),
}
_RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST", *_RRULE_LISTS)


def _rrule_part_problem(name: str, value: str) -> tuple[str, str] | None:
    if name == "FREQ":
        if value in _TOO_OFTEN:
            return (
                f"FREQ={value} 太频繁：保养计划最多每小时一次（可选 {'、'.join(_FREQS)}）",
                f"FREQ={value} is too frequent: a maintenance plan falls due at most once an "
                f"hour ({', '.join(_FREQS)})",
            )
        if value not in _FREQS:
            return (
                f"FREQ “{value}” 无法识别：可选 {'、'.join(_FREQS)}",
                f"FREQ {value!r} is not recognised: one of {', '.join(_FREQS)}",
            )
    elif name in ("INTERVAL", "COUNT"):
        if not _whole(value) or not 1 <= int(value) <= MAX_INTERVAL:
            return (
                f"{name} “{value}” 须为 1–{MAX_INTERVAL} 的整数",
                f"{name} {value!r} must be a whole number 1–{MAX_INTERVAL}",
            )
    elif name == "UNTIL":
        if not re.fullmatch(r"\d{8}(?:T\d{6})?", value):
            return (
                f"UNTIL “{value}” 须写成 YYYYMMDD 或 YYYYMMDDThhmmss（站点当地时间）",
                f"UNTIL {value!r} must be YYYYMMDD or YYYYMMDDThhmmss (site local time)",
            )
    elif name == "WKST":
        if not re.fullmatch(_DAY, value):
            return (
                f"WKST “{value}” 无法识别：MO、TU、WE、TH、FR、SA、SU 之一",
                f"WKST {value!r} is not recognised: one of MO, TU, WE, TH, FR, SA, SU",
            )
    elif name == "BYDAY":
        for item in value.split(","):
            if not re.fullmatch(rf"(?:[+-]?(?:[1-9]|[1-4]\d|5[0-3]))?{_DAY}", item):
                return (
                    f"BYDAY “{item}” 无法识别：MO–SU，可带序号"
                    "（1MO 第一个周一，-1FR 最后一个周五）",
                    f"BYDAY {item!r} is not recognised: MO–SU, optionally numbered (1MO the "
                    "first Monday, -1FR the last Friday)",
                )
    else:
        low, high, negative, zh, en = _RRULE_LISTS[name]
        allowed_zh = f"{zh} {low}–{high}" + (f" 或 -{high}–-{low}" if negative else "")
        allowed_en = f"{en} {low}–{high}" + (f" or -{high}–-{low}" if negative else "")
        for item in value.split(","):
            number = item[1:] if negative and item[:1] in "+-" else item
            if not _whole(number) or not low <= int(number) <= high:
                return (
                    f"{name} “{item}” 超出范围：{allowed_zh}",
                    f"{name} {item!r} is out of range: {allowed_en}",
                )
    return None


def _rrule_syntax_problem(expr: str) -> tuple[str, str] | None:
    seen: set[str] = set()
    for part in expr.split(";"):
        if not part:
            return ("多了一个分号（空的部分）", "a stray ';' (an empty part)")
        if any(c.isspace() for c in part):
            return (f"“{part}” 中不能有空格", f"{part!r} must not contain spaces")
        name, eq, value = part.partition("=")
        name, value = name.upper(), value.upper()
        if not eq or not value:
            return (f"“{part}” 须写成 名称=值", f"{part!r} must be NAME=VALUE")
        if name not in _RRULE_PARTS:
            guess = difflib.get_close_matches(name, _RRULE_PARTS, n=1)
            hint_zh = f"（是不是 {guess[0]}？）" if guess else ""
            hint_en = f" (did you mean {guess[0]}?)" if guess else ""
            extra = "，起算时间请写在计划的 start 中" if name == "DTSTART" else ""
            extra_en = "; give the plan a start instead" if name == "DTSTART" else ""
            return (
                f"未知的部分 {name}{hint_zh}{extra}",
                f"unknown part {name}{hint_en}{extra_en}",
            )
        if name in seen:
            return (f"{name} 出现了两次", f"{name} is given twice")
        seen.add(name)
        problem = _rrule_part_problem(name, value)
        if problem is not None:
            return problem
    if "FREQ" not in seen:
        return (
            f"缺少 FREQ（可选 {'、'.join(_FREQS)}）",
            f"FREQ is missing (one of {', '.join(_FREQS)})",
        )
    if {"COUNT", "UNTIL"} <= seen:
        return ("COUNT 和 UNTIL 只能给一个", "give COUNT or UNTIL, not both")
    parts = (p.partition("=") for p in expr.upper().split(";"))
    return _impossible_day({k.strip(): v.strip() for k, _, v in parts})


def _impossible_day(parts: Mapping[str, str]) -> tuple[str, str] | None:
    """A day of month no month asked for has (dateutil would walk to year 9999 looking)."""
    if "BYMONTHDAY" not in parts or "BYMONTH" not in parts:
        return None
    days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
    months = [int(m) for m in parts["BYMONTH"].split(",")]
    longest = max(29 if m == 2 else calendar.monthrange(2024, m)[1] for m in months)
    if all(d > longest for d in days if d > 0) and all(d < -longest for d in days if d < 0):
        month_zh = "、".join(f"{m} 月" for m in months)
        return (
            f"永远不会到期：{month_zh}没有 {parts['BYMONTHDAY']} 日",
            f"never falls due: month {parts['BYMONTH']} has no day {parts['BYMONTHDAY']}",
        )
    return None


def parse_rrule(expr: str, start: datetime) -> rrule:
    """The dateutil rule the scheduler enumerates (`ValueError` if dateutil refuses it)."""
    try:
        rule = rrulestr(expr, dtstart=start, cache=True, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(rule, rrule):
        raise ValueError("a single rule, not a set")
    return rule


@lru_cache(maxsize=1024)
def rrule_problem(expr: str, start: datetime = DEFAULT_START) -> ScheduleProblem | None:
    syntax = _rrule_syntax_problem(expr.removeprefix("RRULE:"))
    if syntax is not None:
        return ScheduleProblem(
            "rrule", f"rrule “{expr}”：{syntax[0]}", f"rrule {expr!r}: {syntax[1]}"
        )
    try:
        rule = parse_rrule(expr, start)
    except ValueError as exc:
        return ScheduleProblem("rrule", f"rrule “{expr}” 无法解析：{exc}", f"rrule {expr!r}: {exc}")
    counted = "COUNT=" in expr.upper() or "UNTIL=" in expr.upper()
    hourly = "FREQ=HOURLY" in expr.upper()
    horizon, zh, en = (
        (HOURLY_HORIZON, "一年", "a year") if hourly else (HORIZON, "十年", "ten years")
    )
    bounded = rule if counted else rule.replace(until=start + horizon)
    times = list(islice(bounded, SAMPLE))
    if not times:
        return ScheduleProblem(
            "rrule",
            f"rrule “{expr}” 永远不会到期（自 {start:%Y-%m-%d} 起{zh}内没有一次）",
            f"rrule {expr!r} never falls due (not once in {en} from {start:%Y-%m-%d})",
        )
    gaps = [b - a for a, b in pairwise(times)]
    if gaps and min(gaps) < MIN_GAP:
        shortest = int(min(gaps).total_seconds() // 60)
        return ScheduleProblem(
            "rrule",
            f"rrule “{expr}” 最短 {shortest} 分钟到期一次：保养计划最多每小时一次",
            f"rrule {expr!r} falls due every {shortest} min at its closest: a maintenance "
            "plan falls due at most once an hour",
        )
    return None


# --- every, sunset offsets, one plan ----------------------------------------------------------


def every_problem(seconds: float) -> ScheduleProblem | None:
    if seconds < MIN_GAP.total_seconds():
        return ScheduleProblem(
            "every",
            f"every {seconds:g} 秒太频繁：保养计划最多每小时一次（至少 1h）",
            f"every {seconds:g}s is too frequent: a maintenance plan falls due at most once "
            "an hour (1h or more)",
        )
    return None


def after_sunset_problem(seconds: float) -> ScheduleProblem | None:
    """夜间照明: the check's offset after sunset, 0–6 h."""
    if not 0 <= seconds <= MAX_AFTER_SUNSET.total_seconds():
        return ScheduleProblem(
            "after_sunset",
            f"日落后 {seconds / 60:g} 分钟超出范围：日落后偏移 0–6 小时（0–360 分钟）",
            f"{seconds / 60:g} min after sunset is out of range: after_sunset 0–6 h (0–360 min)",
        )
    return None


def recurrence_problem(
    rrule_expr: str | None,
    cron: str | None,
    every: float | None,
    start: datetime | None = None,
) -> ScheduleProblem | None:
    """What is wrong with a plan's calendar recurrence, or None (meter plans have none)."""
    if rrule_expr is not None:
        return rrule_problem(rrule_expr, start or DEFAULT_START)
    if cron is not None:
        return cron_problem(cron)
    if every is not None:
        return every_problem(every)
    return None


# --- a site file ------------------------------------------------------------------------------


def _seconds(value: Any) -> float | None:
    try:
        return parse_seconds(value)
    except ValueError:
        return None  # the schema reports a malformed duration


def _start(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    try:
        return (
            datetime.fromisoformat(value).replace(tzinfo=None) if isinstance(value, str) else None
        )
    except ValueError:
        return None


def plan_schedule_problem(
    raw: Mapping[str, Any], templates: Mapping[str, Any]
) -> tuple[str, ScheduleProblem] | None:
    """The problem of one raw plan and the key it belongs under (its own field, or `template`
    when the recurrence comes from the template)."""
    start = _start(raw.get("start"))
    own = [k for k in ("rrule", "cron", "every") if raw.get(k) is not None]
    if own:
        key = own[0]
        value = raw[key]
        if key == "every":
            seconds = _seconds(value)
            problem = every_problem(seconds) if seconds is not None else None
        elif not isinstance(value, str):
            return None  # the schema reports a non-text expression
        else:
            problem = recurrence_problem(
                value if key == "rrule" else None, value if key == "cron" else None, None, start
            )
        return (key, problem) if problem else None
    if raw.get("meter") is not None:
        return None
    name = raw.get("template")
    tpl = templates.get(name) if isinstance(name, str) else None
    if tpl is None:
        return None  # no recurrence at all, or an unknown template: the schema says which
    problem = recurrence_problem(tpl.rrule, tpl.cron, tpl.every, start or tpl.start)
    if problem is None:
        return None
    return "template", ScheduleProblem(
        problem.field,
        f"模板 {raw['template']} 的周期有误：{problem.zh}",
        f"template {raw['template']}: {problem.en}",
    )


def site_schedule_problems(path: Path, data: Any, lines: dict[Loc, int]) -> list[str]:
    """Every schedule of a parsed site file (`plans[*]`, `night_lighting.after_sunset`), each
    problem as `file:line: yaml.path: message`. Reads the raw data, so schedules are checked
    even when another part of the file fails the schema."""
    from maintenance.plans.library import template_library

    if not isinstance(data, Mapping):
        return []
    out: list[str] = []

    def report(loc: Loc, problem: ScheduleProblem) -> None:
        line = line_of(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        out.append(f"{where}: {format_loc(loc)}: {problem.text()}")

    plans = data.get("plans")
    templates = template_library()
    for i, raw in enumerate(plans if isinstance(plans, Sequence) else []):
        if not isinstance(raw, Mapping):
            continue
        found = plan_schedule_problem(raw, templates)
        if found is not None:
            report(("plans", i, found[0]), found[1])
    night = data.get("night_lighting")
    if isinstance(night, Mapping) and "after_sunset" in night:
        seconds = _seconds(night["after_sunset"])
        problem = after_sunset_problem(seconds) if seconds is not None else None
        if problem is not None:
            report(("night_lighting", "after_sunset"), problem)
    return out
