"""The span of time every input must lie in: 1970-01-01 … 2200-01-01 UTC.

Further out, the code cannot compute: year 1 at +14:00 is year 0 in UTC, 9999 at -14:00 is year
10000, and a recurrence counted from year 1 overflows before it reaches today. Anything a person
or a system sends (the API, the site file) is checked against it before it is used.
"""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

OUT_OF_RANGE_ZH = "时间须在 1970-01-01 至 2200-01-01 (UTC) 之间"
OUT_OF_RANGE_EN = "time must lie between 1970-01-01 and 2200-01-01 UTC"


def within_bounds(value: datetime) -> bool:
    """Whether `value` lies within `EARLIEST` … `LATEST`; a naive one (a local time) is
    compared as it reads."""
    # the wall-clock year first: converting year 1 or 9999 to UTC may itself overflow
    if not EARLIEST.year - 1 <= value.year <= LATEST.year:
        return False
    if value.tzinfo is None:
        return EARLIEST.replace(tzinfo=None) <= value <= LATEST.replace(tzinfo=None)
    return EARLIEST <= value.astimezone(UTC) <= LATEST
