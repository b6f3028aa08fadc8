"""Every schedule of a site file is checked by `check-config` with the scheduler's own check,
each wrong one named in the user's terms with its range, its file, line and YAML path."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from maintenance.plans.recurrence import RecurrenceError, check_recurrence, nominal_times
from maintenance.plans.schedules import recurrence_problem
from propwatch.check_config import check_config
from tests.conftest import EXAMPLE_SITE

GATE_CRON = 'cron: "30 9 * * 5"'
SUNSET = "after_sunset: 30m"


@pytest.fixture(autouse=True)
def _chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "zh_CN.UTF-8")


def _site(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "site.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def _gate_plan() -> int:
    plans = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))["plans"]
    return next(i for i, p in enumerate(plans) if p["id"] == "north-gate-weekly")


BROKEN = [
    # (what the plan's recurrence line becomes, the field, the message)
    ('cron: "30 25 * * 5"', "cron", "cron “30 25 * * 5”：小时 25 超出范围：小时 0–23"),
    ('cron: "30 9 * * 8"', "cron", "cron “30 9 * * 8”：星期 8 超出范围：星期 0–7 或 mon–sun"),
    ('cron: "60 9 * * 5"', "cron", "cron “60 9 * * 5”：分钟 60 超出范围：分钟 0–59"),
    ('cron: "30 9 32 * *"', "cron", "cron “30 9 32 * *”：日 32 超出范围：日 1–31"),
    ('cron: "30 9 * 13 *"', "cron", "cron “30 9 * 13 *”：月 13 超出范围：月 1–12 或 jan–dec"),
    (
        'cron: "30 9 * * fry"',
        "cron",
        "cron “30 9 * * fry”：星期 “fry” 无法识别（是不是 fri？）：星期 0–7 或 mon–sun",
    ),
    (
        'cron: "30 9 * * 5 2026"',
        "cron",
        "cron 须为 5 个字段（分钟 小时 日 月 星期），“30 9 * * 5 2026” 有 6 个",
    ),
    ('cron: "30 9 * * 5/0"', "cron", "cron “30 9 * * 5/0”：星期 “5/0” 的步长须为正整数"),
    ('cron: "30 9 * * 5-1"', "cron", "cron “30 9 * * 5-1”：星期 范围 “5-1” 的起点大于终点"),
    (
        'cron: "*/10 9 * * 5"',
        "cron",
        "cron “*/10 9 * * 5” 每小时触发 6 次：保养计划最多每小时一次，分钟字段只能写一个数",
    ),
    ('cron: "30 9 31 2 *"', "cron", "cron “30 9 31 2 *” 永远不会到期：2 月没有 31 日"),
    (
        'cron: "30 9 1 * 5"',
        "cron",
        "cron “30 9 1 * 5” 同时限定了日和星期：cron 在两者任一满足时触发，容易误读；"
        "请只限定其一，或改用 rrule",
    ),
    (
        'rrule: "FREQ=MINUTELY"',
        "rrule",
        "rrule “FREQ=MINUTELY”：FREQ=MINUTELY 太频繁：保养计划最多每小时一次"
        "（可选 YEARLY、MONTHLY、WEEKLY、DAILY、HOURLY）",
    ),
    (
        'rrule: "FREQ=SOMETIMES"',
        "rrule",
        "rrule “FREQ=SOMETIMES”：FREQ “SOMETIMES” 无法识别："
        "可选 YEARLY、MONTHLY、WEEKLY、DAILY、HOURLY",
    ),
    (
        'rrule: "FREQ=WEEKLY;BYDAY=FR;BYHOUR=24"',
        "rrule",
        "rrule “FREQ=WEEKLY;BYDAY=FR;BYHOUR=24”：BYHOUR “24” 超出范围：小时 0–23",
    ),
    (
        'rrule: "FREQ=WEEKLY;BYDAY=FX"',
        "rrule",
        "rrule “FREQ=WEEKLY;BYDAY=FX”：BYDAY “FX” 无法识别：MO–SU，可带序号"
        "（1MO 第一个周一，-1FR 最后一个周五）",
    ),
    (
        'rrule: "FREQ=DAILY;BYHOURS=9"',
        "rrule",
        "rrule “FREQ=DAILY;BYHOURS=9”：未知的部分 BYHOURS（是不是 BYHOUR？）",
    ),
    (
        'rrule: "BYDAY=FR;BYHOUR=9"',
        "rrule",
        "rrule “BYDAY=FR;BYHOUR=9”：缺少 FREQ（可选 YEARLY、MONTHLY、WEEKLY、DAILY、HOURLY）",
    ),
    (
        'rrule: "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,20"',
        "rrule",
        "rrule “FREQ=DAILY;BYHOUR=9;BYMINUTE=0,20” 最短 20 分钟到期一次：保养计划最多每小时一次",
    ),
    (
        'rrule: "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"',
        "rrule",
        "rrule “FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30”：永远不会到期：2 月没有 30 日",
    ),
    (
        'rrule: "FREQ=DAILY;COUNT=3;UNTIL=20270101"',
        "rrule",
        "rrule “FREQ=DAILY;COUNT=3;UNTIL=20270101”：COUNT 和 UNTIL 只能给一个",
    ),
    (
        'rrule: "FREQ=WEEKLY;DTSTART=20260101T090000"',
        "rrule",
        "rrule “FREQ=WEEKLY;DTSTART=20260101T090000”：未知的部分 DTSTART，"
        "起算时间请写在计划的 start 中",
    ),
]


@pytest.mark.parametrize(("schedule", "field", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_check_config_names_a_wrong_schedule_with_its_range_and_line(
    tmp_path: Path, schedule: str, field: str, message: str
) -> None:
    path = _site(tmp_path, GATE_CRON, schedule)
    _, problems = check_config(path)
    where = f"{path}:{_line(path, schedule)}: plans[{_gate_plan()}].{field}"
    assert problems == [f"{where}: {message}"]


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        ("after_sunset: 8h", "日落后 480 分钟超出范围：日落后偏移 0–6 小时（0–360 分钟）"),
        ("after_sunset: 361m", "日落后 361 分钟超出范围：日落后偏移 0–6 小时（0–360 分钟）"),
    ],
)
def test_a_night_lighting_check_too_long_after_sunset_is_refused(
    tmp_path: Path, offset: str, message: str
) -> None:
    path = _site(tmp_path, SUNSET, offset)
    _, problems = check_config(path)
    assert problems == [f"{path}:{_line(path, offset)}: night_lighting.after_sunset: {message}"]


@pytest.mark.parametrize(
    "schedule",
    [
        'cron: "0 * * * *"',  # hourly: the most a plan may
        'cron: "30 9 * * 0-6"',  # Sunday to Saturday, as cron counts
        'cron: "30 9 * * mon-fri"',
        'cron: "30 9 * * 7"',  # Sunday again
        'cron: "30 9 1,15 * *"',
        'rrule: "FREQ=HOURLY"',
        'rrule: "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0"',
        'rrule: "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9"',
        "every: 1h",
    ],
)
def test_a_valid_schedule_passes(tmp_path: Path, schedule: str) -> None:
    site, problems = check_config(_site(tmp_path, GATE_CRON, schedule))
    assert problems == [] and site is not None


def test_six_hours_after_sunset_is_still_allowed(tmp_path: Path) -> None:
    _, problems = check_config(_site(tmp_path, SUNSET, "after_sunset: 6h"))
    assert problems == []


def test_english_is_given_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPWATCH_LANG", "en_US.UTF-8")
    path = _site(tmp_path, GATE_CRON, 'cron: "30 25 * * 5"')
    _, problems = check_config(path)
    assert problems == [
        f"{path}:{_line(path, '30 25')}: plans[{_gate_plan()}].cron: "
        "cron '30 25 * * 5': hour 25 is out of range: hour 0–23"
    ]


def test_the_scheduler_refuses_what_check_config_refuses() -> None:
    """The same check at run time: `check_recurrence` raises with the very message."""
    for schedule, field, _ in BROKEN:
        expr = schedule.split(": ", 1)[1].strip('"')
        problem = recurrence_problem(
            expr if field == "rrule" else None, expr if field == "cron" else None, None
        )
        assert problem is not None, schedule
        with pytest.raises(RecurrenceError) as caught:
            check_recurrence(
                expr if field == "rrule" else None,
                expr if field == "cron" else None,
                "Asia/Shanghai",
            )
        assert (caught.value.zh, caught.value.en) == (problem.zh, problem.en)


def test_an_interval_under_an_hour_is_refused_at_run_time() -> None:
    with pytest.raises(RecurrenceError, match="every 1800s is too frequent"):
        check_recurrence(None, None, "Asia/Shanghai", every=1800)


def test_the_check_config_command_prints_the_problem_and_fails(tmp_path: Path) -> None:
    path = _site(tmp_path, GATE_CRON, 'cron: "30 9 * * 8"')
    env = {**os.environ, "PROPWATCH_LANG": "zh_CN.UTF-8"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("propwatch")), "check-config", "--site", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    expected = (
        f"{path}:{_line(path, '30 9 * * 8')}: plans[{_gate_plan()}].cron: "
        "cron “30 9 * * 8”：星期 8 超出范围：星期 0–7 或 mon–sun"
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr.splitlines()[1]
    assert "Traceback" not in done.stderr and "weekday name" not in done.stderr


@pytest.mark.parametrize(
    ("cron", "days"),
    [
        ("0 9 * * */2", [5, 7, 9, 10]),  # Sunday, Tuesday, Thursday, Saturday as crontab reads it
        ("0 9 * * 0-2", [4, 5, 10, 11]),  # Sunday to Tuesday
        ("0 9 * * 7", [10]),  # Sunday
        ("0 9/4 * * 1", [4, 4, 4, 4, 11, 11, 11, 11]),  # 9, 13, 17, 21 on Mondays
    ],
)
def test_a_cron_day_of_week_counts_from_sunday_as_crontab_does(cron: str, days: list[int]) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    times = nominal_times(
        tz=tz,
        after=datetime(2026, 5, 4, tzinfo=tz),  # a Monday
        until=datetime(2026, 5, 11, 23, tzinfo=tz),
        cron=cron,
    )
    assert [t.astimezone(tz).day for t in times] == days
