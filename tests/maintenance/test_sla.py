"""Due times on calendar hours and on Chinese working days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from maintenance.sla import add_working_days, compute_due, due_at, shift_for_hold
from propwatch.durations import TimeLimit
from propwatch.site import Category, Priority, Site

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


def test_complaints_keep_their_working_day_tiers_under_a_site_wide_table(
    example_site: Site,
) -> None:
    reported = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # Monday
    days = {
        p: compute_due(example_site.spec, Category.COMPLAINT, p, reported).resolve for p in Priority
    }
    assert days == {  # 一般 3, 复杂 7, 重大 15 working days
        Priority.GENERAL: datetime(2026, 11, 26, 23, 59, 59, tzinfo=SHANGHAI),
        Priority.IMPORTANT: datetime(2026, 12, 2, 23, 59, 59, tzinfo=SHANGHAI),
        Priority.EMERGENCY: datetime(2026, 12, 14, 23, 59, 59, tzinfo=SHANGHAI),
    }


def test_a_hold_moves_an_hour_limit_by_exactly_its_length() -> None:
    due = datetime(2026, 11, 23, 14, 0, tzinfo=SHANGHAI)
    held = datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
    resumed = datetime(2026, 11, 23, 13, 30, tzinfo=SHANGHAI)
    assert shift_for_hold(due, TimeLimit(4, "hours"), held, resumed, SHANGHAI) == datetime(
        2026, 11, 23, 16, 30, tzinfo=SHANGHAI
    )


def test_a_hold_within_one_day_leaves_a_working_day_limit_alone() -> None:
    due = datetime(2026, 11, 26, 23, 59, 59, tzinfo=SHANGHAI)
    held = datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    resumed = datetime(2026, 11, 24, 17, 0, tzinfo=SHANGHAI)
    assert shift_for_hold(due, TimeLimit(3, "working_days"), held, resumed, SHANGHAI) == due


def test_a_hold_from_tuesday_to_thursday_adds_two_working_days() -> None:
    due = datetime(2026, 11, 26, 23, 59, 59, tzinfo=SHANGHAI)  # Thursday
    held = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
    resumed = datetime(2026, 11, 26, 15, 0, tzinfo=SHANGHAI)
    shifted = shift_for_hold(due, TimeLimit(3, "working_days"), held, resumed, SHANGHAI)
    assert shifted == datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)  # Fri, then Monday


def test_a_hold_across_the_national_day_holiday_adds_only_the_working_days_it_swallowed() -> None:
    # Held 30 Sep .. 9 Oct 2026: 1-7 Oct are off, 8 and 9 Oct are working days.
    due = datetime(2026, 10, 10, 23, 59, 59, tzinfo=SHANGHAI)
    held = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    resumed = datetime(2026, 10, 9, 9, 0, tzinfo=SHANGHAI)
    shifted = shift_for_hold(due, TimeLimit(3, "working_days"), held, resumed, SHANGHAI)
    # 10 Oct (Saturday) is a 调休 working day; two more working days: 12 and 13 Oct.
    assert shifted == datetime(2026, 10, 13, 23, 59, 59, tzinfo=SHANGHAI)


def test_the_spring_festival_make_up_saturday_counts_as_a_working_day() -> None:
    from datetime import date

    # 2026 Spring Festival: 15-23 Feb off; Saturday 14 Feb and 28 Feb are 调休 working days.
    assert add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)
