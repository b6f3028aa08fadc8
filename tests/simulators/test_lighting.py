"""照明配电箱 model: dusk-to-dawn switching from latitude/longitude, lamp failures and breaker
trips, on a ManualClock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import dawn, dusk

from simulators.lighting import LightingPanel

TZ = ZoneInfo("Asia/Shanghai")
HANGZHOU = (30.2741, 120.1551)
HARBIN = (45.8038, 126.5350)
DAY = date(2026, 12, 21)
NOON = datetime(2026, 12, 21, 12, 0, tzinfo=TZ).astimezone(UTC)
NIGHT = datetime(2026, 12, 21, 22, 0, tzinfo=TZ).astimezone(UTC)


def _panel(at: datetime = NOON, where: tuple[float, float] = HANGZHOU) -> LightingPanel:
    return LightingPanel("panel", TZ, at, *where)


def _on(panel: LightingPanel, at: datetime) -> bool:
    return bool(panel.values(at)["circuit_1_command"])


@pytest.mark.parametrize("where", [HANGZHOU, HARBIN])
def test_circuits_switch_on_at_dusk_for_the_sites_coordinates(where: tuple[float, float]) -> None:
    panel = _panel(where=where)
    at_dusk = dusk(Observer(*where), DAY, tzinfo=TZ).astimezone(UTC)
    assert not _on(panel, at_dusk - timedelta(minutes=1))
    assert _on(panel, at_dusk + timedelta(minutes=1))


@pytest.mark.parametrize("where", [HANGZHOU, HARBIN])
def test_circuits_switch_off_at_dawn_for_the_sites_coordinates(where: tuple[float, float]) -> None:
    panel = _panel(NIGHT, where)
    at_dawn = dawn(Observer(*where), DAY + timedelta(days=1), tzinfo=TZ).astimezone(UTC)
    assert _on(panel, at_dawn - timedelta(minutes=1))
    assert not _on(panel, at_dawn + timedelta(minutes=1))


def test_harbin_lights_up_earlier_than_hangzhou_in_winter() -> None:
    north, south = _panel(where=HARBIN), _panel(where=HANGZHOU)
    at = datetime(2026, 12, 21, 16, 50, tzinfo=TZ).astimezone(UTC)
    assert _on(north, at) and not _on(south, at)


def test_current_follows_the_lamps_and_is_zero_by_day() -> None:
    panel = _panel(NOON)
    day = panel.values(NOON)
    night = panel.values(NIGHT)
    c = panel.circuits[0]
    assert day["circuit_1_current"] == 0.0
    assert float(night["circuit_1_current"]) == pytest.approx(c.rated_current, rel=0.06)
    assert 205 < float(night["circuit_1_voltage"]) < 235


def test_failed_lamps_lower_the_current_proportionally() -> None:
    panel = _panel(NIGHT)
    c = panel.circuits[1]
    before = float(panel.values(NIGHT)["circuit_2_current"])
    panel.inject("lamp_failure", {"circuit": 2, "lamps": c.lamps // 2})
    after = float(panel.values(NIGHT + timedelta(seconds=1))["circuit_2_current"])
    expected = before * (c.lamps - c.lamps // 2) / c.lamps
    assert after == pytest.approx(expected, rel=0.05)


def test_tripped_breaker_drops_current_to_zero_while_command_stays_on() -> None:
    panel = _panel(NIGHT)
    panel.inject("breaker_trip", {"circuit": 3})
    v = panel.values(NIGHT + timedelta(seconds=1))
    assert v["circuit_3_command"] is True and v["circuit_3_current"] == 0.0
    assert float(v["circuit_4_current"]) > 0


def test_lamps_fail_one_by_one_over_burning_nights() -> None:
    panel = _panel(NOON)
    panel.inject("lamp_degradation", {"circuit": 1, "per_day": 4})
    currents = []
    for night in range(4):
        at = NIGHT + timedelta(days=night)
        for hour in range(0, 24, 1):  # step through the days so the burning hours count
            panel.values(at - timedelta(hours=hour))
        currents.append(float(panel.values(at)["circuit_1_current"]))
    assert currents == sorted(currents, reverse=True) and currents[-1] < currents[0]
    assert panel.circuits[0].failed >= 3


def test_written_coil_overrides_the_time_switch_until_the_next_dusk() -> None:
    panel = _panel(NOON)
    panel.values(NOON)
    panel.command("circuit_5_command", True)  # 手动开灯 for maintenance at noon
    assert panel.values(NOON + timedelta(minutes=30))["circuit_5_command"] is True
    assert panel.values(NOON + timedelta(minutes=30))["circuit_6_command"] is False
    next_dawn = dawn(Observer(*HANGZHOU), DAY + timedelta(days=1), tzinfo=TZ).astimezone(UTC)
    assert panel.values(next_dawn + timedelta(minutes=5))["circuit_5_command"] is False


def test_unknown_circuit_is_refused() -> None:
    with pytest.raises(ValueError, match="circuits 1-8"):
        _panel().inject("breaker_trip", {"circuit": 12})
