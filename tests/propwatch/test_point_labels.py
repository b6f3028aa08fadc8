"""测点名称: every built-in point has a zh-CN label; a profile without labels still loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from propwatch.profiles import BUILTIN_DIR, load_profile_file, point_faces
from propwatch.site import Site


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_point_of_a_shipped_profile_has_a_chinese_label(path: Path) -> None:
    faces = point_faces(load_profile_file(path))
    unlabelled = [f.name for f in faces.values() if f.label == f.name]
    assert faces and unlabelled == []
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in f.label) for f in faces.values())


def test_a_label_keeps_the_unit_of_its_point() -> None:
    face = point_faces(load_profile_file(BUILTIN_DIR / "water_pump.yaml"))["outlet_pressure"]
    assert (face.label, face.unit) == ("出水压力", "MPa")


def test_a_user_profile_without_labels_loads_and_shows_its_point_names(tmp_path: Path) -> None:
    path = tmp_path / "chiller.yaml"
    path.write_text(
        "model: chiller\nkind: chiller\npoints:\n"
        "  - {name: leaving_water_temperature, function: input, address: 0, type: float32,"
        " unit: degC}\n",
        encoding="utf-8",
    )
    face = point_faces(load_profile_file(path))["leaving_water_temperature"]
    assert (face.label, face.unit) == ("leaving_water_temperature", "degC")


def test_an_asset_shows_the_labels_of_its_device_profile(example_site: Site) -> None:
    faces = example_site.point_faces("pump-1")
    assert faces["outlet_pressure"].label == "出水压力"
    assert example_site.point_faces("no-such-asset") == {}
