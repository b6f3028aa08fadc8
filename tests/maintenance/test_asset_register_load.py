"""设备台账 into the registry: a 2,000-row register imported beside the site file becomes exactly
2,000 more assets after a load (on SQLite and PostgreSQL), a second import and load change
nothing, and the site directory reloads the site when only the register changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from maintenance.db import Database
from maintenance.registry.models import Asset
from maintenance.registry.service import sync_registry
from propwatch.asset_register import ASSETS
from propwatch.clock import ManualClock
from propwatch.register_import import import_register
from propwatch.site import load_site
from propwatch.site_directory import SiteDirectory
from tests.conftest import EXAMPLE_SITE
from tests.propwatch.test_asset_import import register_rows, write_csv


def _site_file(tmp_path: Path) -> Path:
    folder = tmp_path / "sites"
    folder.mkdir()
    path = folder / "hexie.yaml"
    path.write_text(EXAMPLE_SITE.read_text(encoding="utf-8"), "utf-8")
    return path


def _active(db: Database) -> int:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Asset).where(Asset.retired_at.is_(None))) or 0
        )


def test_two_thousand_rows_become_two_thousand_assets_once(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    path = _site_file(tmp_path)
    with db.session() as s:
        sync_registry(s, load_site(path), clock.now())
    before = _active(db)
    source = write_csv(tmp_path / "台账.csv", register_rows(2000))

    assert import_register(ASSETS, path, source, apply=True).problems == []
    with db.session() as s:
        first = sync_registry(s, load_site(path), clock.now())
    assert (first.added, first.retired) == (2000, 0)
    assert _active(db) == before + 2000
    with db.session() as s:
        pump = s.scalars(select(Asset).where(Asset.code == "eq-00002")).one()
        assert (pump.parent_code, pump.building) == ("room-001", "3栋")

    again = import_register(ASSETS, path, source, apply=True)
    assert (again.written, again.unchanged) == (False, 2000)
    clock.advance(timedelta(minutes=1))
    with db.session() as s:
        second = sync_registry(s, load_site(path), clock.now())
    assert (second.added, second.updated, second.retired) == (0, 0, 0)
    assert _active(db) == before + 2000


def test_the_directory_reloads_a_site_whose_register_changed(tmp_path: Path) -> None:
    path = _site_file(tmp_path)
    clock = ManualClock()
    import_register(ASSETS, path, write_csv(tmp_path / "a.csv", register_rows(20)), apply=True)
    directory = SiteDirectory(path.parent, clock)
    directory.rescan()
    assert len(directory.sites["hexie"].spec.assets) == len(load_site(path).spec.assets)
    count = len(directory.sites["hexie"].spec.assets)

    import_register(ASSETS, path, write_csv(tmp_path / "b.csv", register_rows(40)), apply=True)
    changes = directory.rescan()
    assert changes.changed == ["hexie"]
    assert len(directory.sites["hexie"].spec.assets) == count + 20

    register = path.parent / "hexie.assets.csv"
    register.write_text(register.read_text("utf-8-sig").replace("zone-b", "zone-x", 1), "utf-8")
    broken = directory.rescan()
    assert broken.refused == [path]
    assert len(directory.sites["hexie"].spec.assets) == count + 20  # the last good one runs
    assert directory.rescan().refused == []  # nothing changed since: not checked again
