"""Due times on calendar hours and on Chinese working days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from maintenance.sla import add_working_days, due_at
from propwatch.durations import TimeLimit

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_hour_limits_run_around_the_clock_through_a_holiday() -> None:
    reported = datetime(2026, 10, 1, 23, 0, tzinfo=SHANGHAI)  # 国庆 holiday, at night
    assert due_at(reported, TimeLimit(4, "hours"), SHANGHAI) == datetime(
        2026, 10, 2, 3, 0, tzinfo=SHANGHAI
    )


def test_working_days_skip_the_holiday_and_count_the_make_up_saturday() -> None:
    # 2026 National Day: 1-7 Oct off; Saturday 10 Oct is a 调休 working day.
    reported = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
    due = due_at(reported, TimeLimit(3, "working_days"), SHANGHAI)
    # Working days after 30 Sep: 8 Oct (Thu), 9 Oct (Fri), 10 Oct (Sat, make-up).
    assert due == datetime(2026, 10, 10, 23, 59, 59, tzinfo=SHANGHAI)
    assert due.tzinfo is not None and due.utcoffset() is not None


def test_one_working_day_after_friday_is_monday() -> None:
    from datetime import date

    assert add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 23)


def test_due_is_returned_in_utc_for_working_day_limits() -> None:
    reported = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    due = due_at(reported, TimeLimit(1, "working_days"), SHANGHAI)
    assert due == datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
