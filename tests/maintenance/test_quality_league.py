"""The calendars of the quality analysis: the trend's twelve months across a new year, and the
frequent types' window `months` back with the day clamped to a shorter month, in Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from maintenance.quality.frequent import months_before
from maintenance.quality.league import months_ending
from propwatch.site import load_site
from tests.conftest import EXAMPLE_SITE

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_twelve_months_end_with_the_month_asked_oldest_first() -> None:
    assert months_ending(2026, 3, 12) == [
        *((2025, m) for m in range(4, 13)),
        (2026, 1),
        (2026, 2),
        (2026, 3),
    ]
    assert months_ending(2026, 1, 1) == [(2026, 1)]
    assert months_ending(2026, 12, 2) == [(2026, 11), (2026, 12)]


@pytest.mark.parametrize(
    ("now", "months", "start"),
    [
        (datetime(2026, 5, 31, 9, 15), 3, datetime(2026, 2, 28, 9, 15)),  # no 31 February
        (datetime(2026, 3, 31, 0, 30), 1, datetime(2026, 2, 28, 0, 30)),
        (datetime(2026, 1, 15, 23, 0), 2, datetime(2025, 11, 15, 23, 0)),  # across the year
        (datetime(2028, 5, 29, 12, 0), 3, datetime(2028, 2, 29, 12, 0)),  # a leap year
    ],
)
def test_the_window_starts_the_same_local_time_months_back(
    now: datetime, months: int, start: datetime
) -> None:
    spec = load_site(EXAMPLE_SITE).spec
    local_now = now.replace(tzinfo=SHANGHAI).astimezone(UTC)
    assert months_before(local_now, spec, months) == start.replace(tzinfo=SHANGHAI)
