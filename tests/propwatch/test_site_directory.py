"""Sites as data: a folder of site files, changed while it is served."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from propwatch.clock import ManualClock
from propwatch.config_file import ConfigError, parses
from propwatch.profiles import ModbusProfile, load_profile_file
from propwatch.site import Site
from propwatch.site_directory import FileState, SiteDirectory
from tests.support.servers import free_port, port_open, wait_until
from tests.support.sites import copy_example_site


def _three(folder: Path) -> None:
    copy_example_site(folder, "jia", "甲园", region="east")
    copy_example_site(folder, "yi", "乙园", region="east")
    copy_example_site(folder, "bing", "丙园", region="north")


def _touch(path: Path, text: str) -> None:
    """Write and move the mtime on, so a rewrite within one clock tick is still seen."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, before + 1_000_000)))


def test_every_site_file_of_the_folder_loads_and_other_files_are_left_alone(
    tmp_path: Path,
) -> None:
    _three(tmp_path)
    (tmp_path / "organisation.yaml").write_text(
        "company: {id: c, name: 集团}\n"
        "regions: [{id: east, name: 华东}, {id: north, name: 华北}]\n",
        "utf-8",
    )
    (tmp_path / ".yi.yaml.swp.yaml").write_text("not: a site", "utf-8")
    (tmp_path / "notes.txt").write_text("a note", "utf-8")
    d = SiteDirectory(tmp_path, ManualClock())
    changes = d.rescan()
    assert sorted(changes.added) == ["bing", "jia", "yi"] and not changes.refused
    assert {s.id: s.spec.site.name for s in d.sites.values()} == {
        "jia": "甲园",
        "yi": "乙园",
        "bing": "丙园",
    }
    assert [s.path.name for s in d.states()] == [
        "bing.yaml",
        "jia.yaml",
        "organisation.yaml",
        "yi.yaml",
    ]
    assert all(s.state is FileState.LOADED for s in d.states())
    assert d.sites["bing"].spec.site.region == "north"
    assert d.health() == {"sites": 3, "site_files_refused": 0, "rescans": 1}
    # nothing changed on disk: nothing is checked again
    assert not d.rescan()


def test_a_file_added_changed_broken_fixed_and_removed_while_served(tmp_path: Path) -> None:
    _three(tmp_path)
    clock = ManualClock()
    d = SiteDirectory(tmp_path, clock)
    snapshots: list[Mapping[str, Site]] = []
    d.on_change(snapshots.append)
    d.rescan()
    first = d.sites

    copy_example_site(tmp_path, "ding", "丁园")
    assert d.rescan().added == ["ding"]
    assert set(d.sites) == {"jia", "yi", "bing", "ding"}
    assert set(first) == {"jia", "yi", "bing"}, "a snapshot handed out never changes"

    path = tmp_path / "yi.yaml"
    good = path.read_text("utf-8")
    _touch(path, good.replace("name: 乙园", "name: 乙园二期"))
    assert d.rescan().changed == ["yi"]
    assert d.sites["yi"].spec.site.name == "乙园二期"

    clock.advance(60)
    running = d.sites["yi"]
    _touch(path, good.replace("timezone: Asia/Shanghai", "timezone: Asia/Shangai"))
    changes = d.rescan()
    assert changes.refused == [path] and not changes.changed
    assert d.sites["yi"] is running, "the last good version keeps running"
    (state,) = [s for s in d.states() if s.path == path]
    assert state.state is FileState.REFUSED and state.site_id == "yi"
    assert state.site_name == "乙园二期"
    assert len(state.problems) == 1
    assert state.problems[0].startswith(f"{path}:") and "site.timezone" in state.problems[0]
    assert "Asia/Shanghai" in state.problems[0], "did-you-mean names the zone meant"
    assert state.loaded_at is not None and state.checked_at is not None
    assert state.loaded_at < state.checked_at
    assert d.health()["site_files_refused"] == 1
    assert set(d.sites) == {"jia", "yi", "bing", "ding"}, "the other sites are untouched"

    _touch(path, good)
    assert d.rescan().changed == ["yi"]
    yi = d.state_of("yi")
    assert yi is not None and yi.state is FileState.LOADED
    assert d.sites["yi"].spec.site.name == "乙园"

    (tmp_path / "jia.yaml").unlink()
    assert d.rescan().removed == ["jia"]
    assert set(d.sites) == {"yi", "bing", "ding"}
    assert d.state_of("jia") is None
    assert [set(s) for s in snapshots] == [
        {"jia", "yi", "bing"},
        {"jia", "yi", "bing", "ding"},
        {"jia", "yi", "bing", "ding"},
        {"jia", "yi", "bing", "ding"},
        {"yi", "bing", "ding"},
    ]


def test_a_file_never_good_is_refused_without_a_site_and_loads_once_fixed(
    tmp_path: Path,
) -> None:
    _three(tmp_path)
    bad = tmp_path / "wu.yaml"
    bad.write_text("site: {id: wu, name: 戊园}\nzones: [\n", encoding="utf-8")
    d = SiteDirectory(tmp_path, ManualClock())
    changes = d.rescan()
    assert changes.refused == [bad] and sorted(changes.added) == ["bing", "jia", "yi"]
    (state,) = [s for s in d.states() if s.path == bad]
    assert state.state is FileState.REFUSED and state.site_id is None and state.problems
    assert all(p.startswith(f"{bad}:") for p in state.problems)
    bad.unlink()
    copy_example_site(tmp_path, "wu", "戊园")
    assert d.rescan().added == ["wu"]


def test_two_files_of_one_site_id_the_second_is_refused_and_the_first_keeps_it(
    tmp_path: Path,
) -> None:
    copy_example_site(tmp_path, "jia", "甲园", file_name="a-jia.yaml")
    d = SiteDirectory(tmp_path, ManualClock())
    d.rescan()
    copy_example_site(tmp_path, "jia", "甲园副本", file_name="b-jia.yaml")
    changes = d.rescan()
    assert changes.refused == [tmp_path / "b-jia.yaml"] and not changes.changed
    assert d.sites["jia"].spec.site.name == "甲园"
    (state,) = [s for s in d.states() if s.path.name == "b-jia.yaml"]
    assert "a-jia.yaml" in state.problems[0] and "site.id" in state.problems[0]


def test_a_file_that_changes_its_site_id_serves_the_new_one_only(tmp_path: Path) -> None:
    path = copy_example_site(tmp_path, "jia", "甲园")
    d = SiteDirectory(tmp_path, ManualClock())
    d.rescan()
    _touch(path, path.read_text("utf-8").replace("id: jia", "id: jia2", 1))
    changes = d.rescan()
    assert changes.removed == ["jia"] and changes.added == ["jia2"]
    assert set(d.sites) == {"jia2"}


def test_a_changed_profile_checks_every_site_again(tmp_path: Path) -> None:
    _three(tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    builtin = Path(__file__).resolve().parents[2] / "propwatch" / "profiles" / "water_pump.yaml"
    shutil.copy(builtin, profiles / "water_pump.yaml")
    d = SiteDirectory(tmp_path, ManualClock())
    d.rescan()
    own = profiles / "water_pump.yaml"
    _touch(own, own.read_text("utf-8") + "\nbroken: [\n")
    changes = d.rescan()
    assert sorted(p.name for p in changes.refused) == ["bing.yaml", "jia.yaml", "yi.yaml"]
    assert set(d.sites) == {"jia", "yi", "bing"}, "each keeps its last good version"
    _touch(own, builtin.read_text("utf-8"))
    assert sorted(d.rescan().changed) == ["bing", "jia", "yi"]


BUILTIN_PUMP = Path(__file__).resolve().parents[2] / "propwatch" / "profiles" / "water_pump.yaml"


def _parsed_during(run: Callable[[], object]) -> Counter[Path]:
    """The files `run` parsed, each with how many times."""
    before = Counter(parses)
    run()
    return parses - before


def test_a_scan_parses_each_file_once_and_an_unchanged_rescan_parses_nothing(
    tmp_path: Path,
) -> None:
    _three(tmp_path)
    (tmp_path / "profiles").mkdir()
    own = tmp_path / "profiles" / "water_pump.yaml"
    shutil.copy(BUILTIN_PUMP, own)
    sites = [tmp_path / f"{s}.yaml" for s in ("bing", "jia", "yi")]
    d = SiteDirectory(tmp_path, ManualClock())
    parsed = _parsed_during(d.rescan)
    assert set(d.sites) == {"jia", "yi", "bing"}
    assert [parsed[p] for p in sites] == [1, 1, 1], "checked and loaded from one parse"
    assert parsed[own] == 1, "the profile the three sites name is parsed once for all three"
    assert max(parsed.values()) == 1  # built-ins: once, or not at all if already checked
    assert not _parsed_during(d.rescan), "nothing changed: nothing is parsed"

    # the profile written again as it was: every site is checked again, the profile is not
    _touch(own, own.read_text("utf-8"))
    changes: list[str] = []
    parsed = _parsed_during(lambda: changes.extend(d.rescan().changed))
    assert sorted(changes) == ["bing", "jia", "yi"]
    assert [parsed[p] for p in sites] == [1, 1, 1] and parsed[own] == 0

    # the profile changed: parsed again, once, and what it now says is what the sites get
    _touch(own, own.read_text("utf-8").replace("出水压力", "出口压力"))
    parsed = _parsed_during(d.rescan)
    assert parsed[own] == 1
    profile = d.sites["jia"].profiles["water_pump"]
    assert isinstance(profile, ModbusProfile)
    assert profile.point("outlet_pressure").description == "出口压力"


def test_a_profile_edited_within_one_clock_tick_is_read_again(tmp_path: Path) -> None:
    """The cache compares the file's bytes, not its mtime and size."""
    path = tmp_path / "water_pump.yaml"
    text = BUILTIN_PUMP.read_text("utf-8")
    path.write_text(text, "utf-8")
    stat = path.stat()
    assert load_profile_file(path).kind == "water_pump"
    path.write_text(text.replace("kind: water_pump", "kind: water_pumq"), "utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert load_profile_file(path).kind == "water_pumq"


def test_a_broken_profile_gives_its_problems_each_time_in_the_language_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "water_pump.yaml"
    path.write_text(BUILTIN_PUMP.read_text("utf-8") + "protocol: modbsu\n", "utf-8")

    def problems() -> list[str]:
        with pytest.raises(ConfigError) as exc:
            load_profile_file(path)
        return exc.value.problems

    monkeypatch.setenv("PROPWATCH_LANG", "zh")
    zh = problems()
    assert "modbsu 不是可选的值" in zh[0] and zh[0].startswith(f"{path}:")
    assert problems() == zh and not _parsed_during(problems), "refused from the cache"
    monkeypatch.setenv("PROPWATCH_LANG", "en")
    en = problems()
    assert "modbsu is not allowed" in en[0]


def test_the_garbage_collector_is_back_as_it_was_after_a_scan(tmp_path: Path) -> None:
    """A scan pauses the cyclic collector (a third of its CPU); it must never leave it off."""
    _three(tmp_path)
    d = SiteDirectory(tmp_path, ManualClock())
    assert gc.isenabled()
    d.rescan()
    assert gc.isenabled()
    gc.disable()
    try:
        _touch(tmp_path / "jia.yaml", (tmp_path / "jia.yaml").read_text("utf-8") + "\n")
        assert d.rescan().changed == ["jia"]
        assert not gc.isenabled(), "one who turned it off keeps it off"
    finally:
        gc.enable()


def test_one_file_as_a_directory_of_one(tmp_path: Path) -> None:
    path = copy_example_site(tmp_path, "jia", "甲园")
    copy_example_site(tmp_path, "yi", "乙园")
    d = SiteDirectory.of_file(path, ManualClock())
    assert d.rescan().added == ["jia"]
    assert set(d.sites) == {"jia"}
    path.unlink()
    changes = d.rescan()
    assert changes.refused == [path] and not changes.removed, "a lone file is never dropped"
    assert set(d.sites) == {"jia"}
    (state,) = d.states()
    assert state.state is FileState.REFUSED and "jia.yaml" in state.problems[0]
    copy_example_site(tmp_path, "jia", "甲园")
    assert d.rescan().changed == ["jia"]


def test_the_watch_rescans_on_its_interval_and_at_once_when_asked(tmp_path: Path) -> None:
    asyncio.run(_watch_rescans(tmp_path))


async def _watch_rescans(tmp_path: Path) -> None:
    copy_example_site(tmp_path, "jia", "甲园")
    clock = ManualClock()
    d = SiteDirectory(tmp_path, clock)
    await asyncio.to_thread(d.rescan)
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wake(_: Mapping[str, Site]) -> None:
        loop.call_soon_threadsafe(changed.set)

    d.on_change(wake)
    watch = asyncio.create_task(d.watch(interval=30))
    try:
        await asyncio.sleep(0.05)  # the watch is asleep on the clock
        copy_example_site(tmp_path, "yi", "乙园")
        clock.advance(29)
        await asyncio.sleep(0.05)
        assert "yi" not in d.sites, "not before the interval"
        clock.advance(1)
        await asyncio.wait_for(changed.wait(), 10)
        assert "yi" in d.sites
        changed.clear()
        copy_example_site(tmp_path, "bing", "丙园")
        d.request_rescan()  # what SIGHUP does
        await asyncio.wait_for(changed.wait(), 10)
        assert "bing" in d.sites
    finally:
        watch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watch


ADMIN = "pw_sites-test-Xq7vR2mK9tLw4ZpN8sYc3JfH"


def _get(port: int, path: str) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _sites_of(port: int) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in _get(port, "/api/v1/sites")}


def test_a_running_api_serves_the_folder_as_it_changes(tmp_path: Path) -> None:
    """`propwatch api --sites DIR` as a real process: a site added, broken, fixed and removed
    while it runs, picked up on SIGHUP (and by the periodic rescan) without a restart."""
    folder = tmp_path / "sites"
    _three(folder)
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROPWATCH_")}
    env = {
        **base,
        "PROPWATCH_LANG": "en",
        "PROPWATCH_VAR_DIR": str(tmp_path / "var"),
        "PROPWATCH_API_PORT": str(port),
        "PROPWATCH_ADMIN_TOKEN": ADMIN,
        "PROPWATCH_SITES_DIR": str(folder),
        "PROPWATCH_SITES_RESCAN": "3600",  # SIGHUP only, unless the periodic part is tested
    }
    log = tmp_path / "api.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "propwatch.cli", "api"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 60, "the API")
        assert proc.poll() is None, log.read_text()
        assert set(_sites_of(port)) == {"jia", "yi", "bing"}
        assert _sites_of(port)["bing"]["region"] == "north"

        copy_example_site(folder, "ding", "丁园")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "ding" in _sites_of(port), 20, "the added site")

        path = folder / "yi.yaml"
        good = path.read_text("utf-8")
        _touch(path, good.replace("latitude:", "latitud:", 1))
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _sites_of(port)["yi"]["state"] == "refused", 20, "the refusal")
        yi = _sites_of(port)["yi"]
        assert yi["name"] == "乙园", "the last good version keeps serving"
        assert yi["problems"] and yi["problems"][0].startswith("yi.yaml:")
        assert "latitud" in yi["problems"][0] and str(tmp_path) not in json.dumps(yi)
        files = {f["file"]: f for f in _get(port, "/api/v1/site-files")}
        assert files["yi.yaml"]["state"] == "refused" and files["jia.yaml"]["state"] == "loaded"
        health = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
        )
        sites_health = health["components"]["sites"]
        assert sites_health["sites"] == 4 and sites_health["site_files_refused"] == 1

        _touch(path, good)
        (folder / "jia.yaml").unlink()
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "jia" not in _sites_of(port), 20, "the removal")
        sites = _sites_of(port)
        assert set(sites) == {"yi", "bing", "ding"} and sites["yi"]["state"] == "loaded"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = log.read_text()
    assert "Traceback" not in text and ADMIN not in text


def _check_config(*args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROPWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "propwatch.cli", "check-config", *args],
        env={**base, "PROPWATCH_LANG": "en"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_check_config_of_a_folder_names_each_file_and_fails_on_any_refused(
    tmp_path: Path,
) -> None:
    _three(tmp_path)
    good = _check_config("--sites", str(tmp_path))
    assert good.returncode == 0, good.stderr
    assert good.stdout.count(": OK — ") == 3 and "3 sites load, 0 files refused" in good.stdout
    (tmp_path / "wu.yaml").write_text("site: {id: wu, name: 戊园}\n", encoding="utf-8")
    copy_example_site(tmp_path, "jia", "甲园副本", file_name="z-jia.yaml")
    bad = _check_config("--sites", str(tmp_path))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "3 sites load, 2 files refused" in bad.stdout
    assert f"{tmp_path / 'wu.yaml'}:1: site: missing required field" in bad.stderr
    assert "already served by jia.yaml" in bad.stderr
    missing = _check_config("--sites", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "not a folder" in missing.stderr


ORGANISATION = """\
company: {id: hexie-group, name: 和谐物业集团}
regions:
  - {id: east, name: 华东区域}
"""


def test_the_organisation_file_names_the_regions_the_sites_may_name(tmp_path: Path) -> None:
    _three(tmp_path)  # jia and yi in east, bing in north
    org = tmp_path / "organisation.yaml"
    org.write_text(ORGANISATION, encoding="utf-8")
    d = SiteDirectory(tmp_path, ManualClock())
    changes = d.rescan()
    assert sorted(changes.added) == ["jia", "yi"] and changes.refused == [tmp_path / "bing.yaml"]
    (bing,) = [s for s in d.states() if s.path.name == "bing.yaml"]
    assert "site.region" in bing.problems[0] and "north" in bing.problems[0]
    assert d.organisation.company_name == "和谐物业集团"
    assert d.organisation.region_name("east") == "华东区域"

    _touch(org, ORGANISATION + "  - {id: north, name: 华北区域}\n")
    changes = d.rescan()
    assert changes.added == ["bing"], "a region declared later lets its site in"
    assert d.organisation.region_name("north") == "华北区域"

    _touch(org, "company: {id: hexie-group}\n")
    assert not d.rescan().removed
    assert d.organisation.region_name("north") == "华北区域", "the last good organisation stays"
    (state,) = [s for s in d.states() if s.path == org]
    assert state.state is FileState.REFUSED
    assert state.problems[0].startswith(f"{org}:1: company:") and "name" in state.problems[0]

    org.unlink()
    d.rescan()
    assert not d.organisation.declared and set(d.sites) == {"jia", "yi", "bing"}


def test_a_site_is_reloaded_when_its_plan_or_contract_register_changes(tmp_path: Path) -> None:
    from propwatch.contractor_register import CONTRACTORS, CONTRACTS
    from propwatch.plan_register import PLANS
    from propwatch.register_import import import_register
    from tests.conftest import EXAMPLE_SITE
    from tests.propwatch import test_contractor_register as contracts
    from tests.propwatch import test_plan_register as plans

    folder = tmp_path / "sites"
    folder.mkdir()
    path = folder / "hexie.yaml"
    text = EXAMPLE_SITE.read_text("utf-8")
    path.write_text(text.replace("\npeople:\n", "\npeople:\n" + contracts.PEOPLE), "utf-8")
    source = contracts.write_csv(
        tmp_path / "单位.csv", contracts.CONTRACTOR_HEADER, contracts.CONTRACTOR_ROWS
    )
    assert import_register(CONTRACTORS, path, source, apply=True).problems == []
    source = plans.write_csv(tmp_path / "计划.csv", plans.GOOD[:2])
    assert import_register(PLANS, path, source, apply=True).problems == []
    directory = SiteDirectory(folder, ManualClock())
    directory.rescan()
    count = len(directory.sites["hexie"].spec.plans)
    assert directory.rescan().changed == []

    import_register(PLANS, path, plans.write_csv(tmp_path / "计划.csv", plans.GOOD), apply=True)
    assert directory.rescan().changed == ["hexie"]
    assert len(directory.sites["hexie"].spec.plans) == count + 2

    rows = contracts.CONTRACT_ROWS
    source = contracts.write_csv(tmp_path / "合同.csv", contracts.CONTRACT_HEADER, rows)
    assert import_register(CONTRACTS, path, source, apply=True).problems == []
    assert directory.rescan().changed == ["hexie"]  # the site file gained contracts_file
    register = folder / "hexie.contracts.csv"
    register.write_text(register.read_text("utf-8-sig").replace("lift-1-1", "lift-1-9"), "utf-8")
    broken = directory.rescan()
    assert broken.refused == [path]
    [state] = [s for s in directory.states() if s.path == path]
    assert any(p.startswith(f"{register}:2: assets: ") for p in state.problems)
    assert len(directory.sites["hexie"].spec.contracts) == 2  # the last good one runs
