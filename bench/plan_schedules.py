"""What a plan's schedule costs: enumerating a year of the most frequent schedule a plan may have
(once an hour), checking one schedule, and `check_config` of the example site with its schedules.

A minutely RRULE, which plans had before schedules were checked, is enumerated too (straight
through dateutil, since the scheduler now refuses it) to show what a year's preview used to cost.

    python -m bench.plan_schedules [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from maintenance.plans.recurrence import nominal_times
from maintenance.plans.schedules import cron_problem, rrule_problem
from propwatch.check_config import check_config
from tests.conftest import EXAMPLE_SITE

TZ = ZoneInfo("Asia/Shanghai")
AFTER = datetime(2026, 5, 4, tzinfo=UTC)
UNTIL = AFTER + timedelta(days=366)


def _median_ms(run: Callable[[], object], rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds

    minutely = rrulestr("FREQ=MINUTELY", dtstart=AFTER.replace(tzinfo=None))
    ms, n = _median_ms(
        lambda: len(minutely.between(AFTER.replace(tzinfo=None), UNTIL.replace(tzinfo=None))), 1
    )
    print(f"a year of FREQ=MINUTELY (refused now): {n} times, {ms:.0f} ms")
    for kind, expr in (("rrule_expr", "FREQ=HOURLY"), ("cron", "0 * * * *")):
        ms, n = _median_ms(
            lambda k=kind, e=expr: sum(  # type: ignore[misc]
                1 for _ in nominal_times(tz=TZ, after=AFTER, until=UNTIL, **{k: e})
            ),
            rounds,
        )
        print(f"a year of {expr!r} (the most a plan may): {n} times, {ms:.0f} ms")
    for expr in ("FREQ=MINUTELY", "FREQ=HOURLY", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=9;BYMINUTE=30"):
        rrule_problem.cache_clear()
        ms, _ = _median_ms(lambda e=expr: rrule_problem(e), 1)  # type: ignore[misc]
        print(f"check rrule {expr!r} (uncached): {ms:.1f} ms")
    ms, _ = _median_ms(lambda: cron_problem("30 9 * * 5"), 1)
    print(f"check cron '30 9 * * 5': {ms:.2f} ms")
    ms, _ = _median_ms(lambda: check_config(EXAMPLE_SITE), rounds)
    print(f"check_config of the example site: {ms:.0f} ms (median of {rounds})")


if __name__ == "__main__":
    main()
