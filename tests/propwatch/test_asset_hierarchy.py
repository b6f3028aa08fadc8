"""资产层级: `parent:` in the site file — unknown parents and cycles refused at the line, and the
tree (ancestors, children, descendants) as the API reads it."""

from __future__ import annotations

from pathlib import Path

from propwatch.asset_tree import AssetTree
from propwatch.site import inspect_site
from tests.conftest import EXAMPLE_SITE

ROOM = """
  - {id: room-1, name: 1号泵房, kind: pump_room, zone: zone-a, building: 水泵房}
  - {id: pump-a, name: 1号泵, kind: water_pump, zone: zone-a, parent: room-1}
  - {id: pump-b, name: 2号泵, kind: water_pump, zone: zone-a, parent: room-1}
  - {id: cabinet, name: 控制柜, kind: control_cabinet, zone: zone-a, parent: room-1}
  - {id: vfd, name: 变频器, kind: vfd, zone: zone-a, parent: cabinet}
"""


def _site_with(tmp_path: Path, extra: str) -> Path:
    text = EXAMPLE_SITE.read_text(encoding="utf-8").replace("assets:\n", "assets:" + extra, 1)
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    return next(
        i for i, line in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in line
    )


def test_the_tree_of_a_pump_room(tmp_path: Path) -> None:
    site, problems = inspect_site(_site_with(tmp_path, ROOM))
    assert problems == [] and site is not None
    tree = AssetTree(site.spec.assets)
    assert [a.id for a in tree.children("room-1")] == ["pump-a", "pump-b", "cabinet"]
    assert [a.id for a in tree.descendants("room-1")] == ["pump-a", "pump-b", "cabinet", "vfd"]
    assert [a.id for a in tree.ancestors("vfd")] == ["cabinet", "room-1"]
    assert tree.ancestors("room-1") == [] and tree.children("vfd") == []


def test_an_unknown_parent_is_refused_at_its_line(tmp_path: Path) -> None:
    path = _site_with(tmp_path, ROOM.replace("parent: cabinet", "parent: cabinett"))
    _site, problems = inspect_site(path)
    line = _line(path, "parent: cabinett")
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line}: assets[4].parent: ")
    assert "cabinett" in problems[0] and "cabinet?" in problems[0]


def test_a_cycle_is_refused_naming_its_members(tmp_path: Path) -> None:
    cyclic = ROOM.replace(
        "kind: pump_room, zone: zone-a,", "kind: pump_room, zone: zone-a, parent: vfd,"
    )
    path = _site_with(tmp_path, cyclic)
    _site, problems = inspect_site(path)
    # room-1 → vfd → cabinet → room-1: each member is named at its own parent line
    assert sorted(p.split(": ")[1] for p in problems) == [
        "assets[0].parent",
        "assets[3].parent",
        "assets[4].parent",
    ]
    assert any("room-1 -> vfd -> cabinet -> room-1" in p for p in problems)


def test_an_asset_cannot_hold_itself(tmp_path: Path) -> None:
    path = _site_with(tmp_path, ROOM.replace("parent: cabinet", "parent: vfd"))
    _site, problems = inspect_site(path)
    assert [p.split(": ")[1] for p in problems] == ["assets[4].parent"]
