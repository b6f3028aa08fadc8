"""Rule binding and reload: unchanged rules keep their state, changed ones start afresh."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.rules.engine import RuleEngine
from propwatch.events import AlarmAction
from propwatch.site import Site, load_site
from tests.conftest import EXAMPLE_SITE
from tests.gateway.rule_support import sample


def _site(tmp_path: Path, name: str, edit: dict[str, object] | None = None) -> Site:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    for r in doc["rules"]:
        r.pop("on_delay", None)
        if edit and r["id"] == "pump-bearing-hot":
            r.update(edit)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_site(path)


def _low_pressure(engine: RuleEngine, at: float) -> list[AlarmAction]:
    return [e.action for e in engine.evaluate(sample(at, outlet_pressure=0.05))]


def test_an_open_episode_survives_a_reload_that_leaves_its_rule_alone(tmp_path: Path) -> None:
    engine = RuleEngine(_site(tmp_path, "a.yaml"))
    assert _low_pressure(engine, 0) == [AlarmAction.RAISE]
    kept, new = engine.rebuild(_site(tmp_path, "b.yaml", {"above": 85}))
    assert _low_pressure(engine, 1) == []  # still active: no second raise
    assert engine.active("pump-1") == ["low_outlet_pressure"]
    bound = sum(len(alarms) for alarms in engine.by_asset.values())
    assert (kept, new) == (bound - 1, 1)  # only pump-1 × pump-bearing-hot is new


def test_a_changed_rule_starts_with_fresh_state(tmp_path: Path) -> None:
    engine = RuleEngine(_site(tmp_path, "a.yaml"))
    engine.evaluate(sample(0, bearing_temperature=95.0))
    assert engine.active("pump-1") == ["bearing_overheat"]
    engine.rebuild(_site(tmp_path, "b.yaml", {"above": 99}))
    assert engine.active("pump-1") == []
    assert engine.evaluate(sample(1, bearing_temperature=95.0)) == []


def test_a_communication_loss_rule_sets_the_offline_policy_of_its_assets(tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["rules"].append(
        {
            "id": "pump-comm",
            "kind": "communication_loss",
            "asset_kind": "water_pump",
            "offline_after": 5,
            "severity": "critical",
            "message": "水泵通信中断，无法监测供水",
        }
    )
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    engine = RuleEngine(load_site(path))
    rule = engine.communication_rule("pump-1")
    assert rule is not None and rule.offline_after == 5 and rule.online_after == 2
    assert engine.communication_rule("lift-1-1") is None


def test_a_threshold_alarm_carries_the_zh_cn_label_of_its_point(tmp_path: Path) -> None:
    engine = RuleEngine(_site(tmp_path, "a.yaml"))
    [event] = engine.evaluate(sample(0, outlet_pressure=0.047))
    assert (event.evidence["metric"], event.evidence["label"]) == ("outlet_pressure", "出水压力")
