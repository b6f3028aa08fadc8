"""Scenario files: the shipped ones fit the example site; bad ones are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from propwatch.clock import ManualClock
from propwatch.site import Site
from simulators.fleet import Fleet
from simulators.scenario import Scenario, Step, load_scenario
from tests.conftest import EXAMPLE_SITE

SCENARIOS = sorted(EXAMPLE_SITE.parent.glob("**/scenario*.yaml")) + sorted(
    (EXAMPLE_SITE.parent / "scenarios").glob("*.yaml")
)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_fit_the_example_site(example_site: Site, path: Path) -> None:
    Fleet(example_site, ManualClock()).check(load_scenario(path))


def test_week_of_wear_plays_a_week_in_about_a_minute() -> None:
    scenario = load_scenario(EXAMPLE_SITE.parent / "scenarios" / "week-of-wear.yaml")
    last = max(s.after or 0 for s in scenario.steps)
    assert last >= 5 * 86400 and last / scenario.speed < 90


def test_comm_mode_must_fit_the_protocol(example_site: Site) -> None:
    fleet = Fleet(example_site, ManualClock())
    mqtt_on_modbus = Step(after=0, device="pump-1", comm="malformed")
    modbus_on_mqtt = Step(after=0, device="door-north", comm="exception")
    assert "malformed" in (fleet.problem(mqtt_on_modbus) or "")
    assert "exception" in (fleet.problem(modbus_on_mqtt) or "")


def test_unknown_device_is_named_with_the_known_ones(example_site: Site) -> None:
    with pytest.raises(ValueError, match=r"no simulated device 'pump-9'.*pump-1"):
        Fleet(example_site, ManualClock()).check(
            Scenario(name="x", steps=[Step(after=0, device="pump-9", fault="overload")])
        )


def test_two_devices_on_one_unit_id_are_refused(example_site: Site) -> None:
    devices = list(example_site.spec.devices)
    lift = next(d for d in devices if d.id == "lift-1-1")
    twin = lift.model_copy(update={"id": "lift-1-2"})
    spec = example_site.spec.model_copy(update={"devices": [*devices, twin]})
    with pytest.raises(ValueError, match="lift-1-1 and lift-1-2 both answer"):
        Fleet(Site(example_site.path, spec, example_site.profiles), ManualClock())


def test_a_device_kind_without_a_simulator_is_left_out_not_fatal(example_site: Site) -> None:
    profile = example_site.profiles["water_pump"].model_copy(update={"kind": "chiller"})
    devices = list(example_site.spec.devices)
    chiller = devices[0].model_copy(update={"id": "chiller-1", "profile": "chiller", "unit_id": 9})
    spec = example_site.spec.model_copy(update={"devices": [*devices, chiller]})
    site = Site(example_site.path, spec, {**example_site.profiles, "chiller": profile})
    fleet = Fleet(site, ManualClock())
    assert fleet.unsimulated == {"chiller-1": "chiller"} and "pump-1" in fleet.models
    assert "no simulator" in (fleet.problem(Step(after=0, device="chiller-1", clear="all")) or "")
