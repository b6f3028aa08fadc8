"""A plan's recurrence in the duty room's words, for every shape the templates and site use."""

from __future__ import annotations

import pytest

from maintenance.plans.recurrence_zh import cron_zh, every_zh, meter_zh, rrule_zh


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("FREQ=MONTHLY;BYMONTHDAY=5;BYHOUR=9;BYMINUTE=0", "每月5日 09:00"),
        ("FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0", "每6个月15日 09:00"),
        ("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10;BYHOUR=9;BYMINUTE=0", "每3个月10日 09:00"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "每2周 周一 09:00"),
        ("FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0", "每周一 10:00"),
        ("FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=10;BYMINUTE=30", "每周一、周四 10:30"),
        ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0", "每年4月15日 09:00"),
        ("FREQ=DAILY;BYHOUR=9,16;BYMINUTE=0", "每天 09:00、16:00"),
        ("RRULE:FREQ=DAILY;BYHOUR=18;BYMINUTE=5", "每天 18:05"),
        # what it cannot say plainly is shown as written
        ("FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9", "按规则 FREQ=MONTHLY;BYDAY=1MO;BYHOUR=9"),
        ("FREQ=MONTHLY;BYSETPOS=-1;BYDAY=FR", "按规则 FREQ=MONTHLY;BYSETPOS=-1;BYDAY=FR"),
    ],
)
def test_rrules_read_as_the_duty_room_says_them(rule: str, said: str) -> None:
    assert rrule_zh(rule) == said


@pytest.mark.parametrize(
    ("cron", "said"),
    [
        ("30 9 * * 5", "每周五 09:30"),
        ("0 18 * * *", "每天 18:00"),
        ("0 8 1 * *", "每月1日 08:00"),
        ("*/15 * * * *", "定时 */15 * * * *"),
    ],
)
def test_cron_reads_as_words_or_as_written(cron: str, said: str) -> None:
    assert cron_zh(cron) == said


def test_intervals_and_meters() -> None:
    assert (every_zh(7200), every_zh(86400), every_zh(90), every_zh(600)) == (
        "每2小时",
        "每天",
        "每90秒",
        "每10分钟",
    )
    assert meter_zh("run_hours", 2000, "h") == "累计运行每2000小时"
    assert meter_zh("pumped_m3", 500, "m³") == "pumped_m3每500m³"
