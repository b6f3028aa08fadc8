"""改派 candidates: the zone's technicians and the one on duty, least loaded first."""

from __future__ import annotations

from datetime import UTC, datetime

from maintenance.assignment import reassign_candidates
from propwatch.site import Site

DAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: wang-gong on day duty
NIGHT = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 21:00: li-shifu on night duty


def _people(found: list) -> list[str]:  # type: ignore[type-arg]
    return [c.person for c in found]


def test_fewer_open_orders_come_before_duty(example_site: Site) -> None:
    found = reassign_candidates(example_site.spec, "zone-a", NIGHT, {"wang-gong": 1, "li-shifu": 4})
    assert _people(found) == ["wang-gong", "li-shifu"]
    assert [(c.zone_technician, c.on_duty) for c in found] == [(True, False), (False, True)]


def test_a_tie_goes_to_the_technician_on_duty(example_site: Site) -> None:
    found = reassign_candidates(example_site.spec, "zone-a", NIGHT, {"wang-gong": 2, "li-shifu": 2})
    assert _people(found) == ["li-shifu", "wang-gong"]


def test_the_current_assignee_comes_last_however_idle(example_site: Site) -> None:
    found = reassign_candidates(
        example_site.spec, "zone-a", NIGHT, {"li-shifu": 5}, current="wang-gong"
    )
    assert _people(found) == ["li-shifu", "wang-gong"]
    assert found[1].open_orders == 0


def test_by_day_the_zone_technician_on_duty_is_the_only_candidate(example_site: Site) -> None:
    assert _people(reassign_candidates(example_site.spec, "zone-a", DAY, {})) == ["wang-gong"]


def test_an_order_of_no_zone_may_go_to_any_zones_technician(example_site: Site) -> None:
    found = reassign_candidates(example_site.spec, None, DAY, {"wang-gong": 3})
    assert _people(found) == ["li-shifu", "wang-gong"]
