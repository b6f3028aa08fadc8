"""`propwatch check-config`: every problem of a site file and its device profiles, at once.

Beyond what the gateway loads, it also reads every profile under the site's `profiles/` folder
and the built-in ones, so a broken model file is caught before a device ever names it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from maintenance.plans.library import template_library
from maintenance.plans.schedules import plan_schedule_problem, site_schedule_problems
from propwatch.config_file import ConfigError, Loc, read_yaml
from propwatch.profiles import BUILTIN_DIR, load_profile_file
from propwatch.register_files import where
from propwatch.site import Site, inspect_parsed


def profile_files(site_path: Path) -> list[Path]:
    """Profiles a site can use: its own `profiles/` folder, then the built-ins."""
    own = site_path.parent / "profiles"
    files = sorted(own.glob("*.yaml")) if own.is_dir() else []
    shadowed = {f.name for f in files}
    return files + [f for f in sorted(BUILTIN_DIR.glob("*.yaml")) if f.name not in shadowed]


def check_config(site_path: Path) -> tuple[Site | None, list[str]]:
    """The loaded site (None when its schema fails) and every problem found, deduplicated."""
    try:
        data, lines = read_yaml(site_path)
    except ConfigError as exc:  # unreadable file or invalid YAML: nothing more to learn
        return None, exc.problems
    site, problems = inspect_parsed(site_path, data, lines)
    problems += _schedule_problems(site_path, data, lines, problems)
    if site is not None:
        problems += register_schedule_problems(site)
    for path in profile_files(site_path):
        try:
            load_profile_file(path)
        except ConfigError as exc:
            problems += [p for p in exc.problems if not any(p in q for q in problems)]
    return site, list(dict.fromkeys(problems))


def _schedule_problems(
    site_path: Path, data: Any, lines: dict[Loc, int], found: list[str]
) -> list[str]:
    """Every plan schedule and the night-lighting offset, by the check the scheduler runs
    (`maintenance.plans.schedules`); a location the schema already faulted is not repeated."""
    faulted = {_where(p) for p in found}
    return [p for p in site_schedule_problems(site_path, data, lines) if _where(p) not in faulted]


def register_schedule_problems(site: Site, only: str | None = None) -> list[str]:
    """The schedules of the plan register's rows (`plans_file`), by the same check, each at its
    row and column; none unless `only` is None or `plans`."""
    register = site.registers.get("plans")
    if register is None or only not in (None, "plans"):
        return []
    templates = template_library()
    out = []
    for plan, row in zip(register.items, register.rows, strict=True):
        found = plan_schedule_problem(plan.model_dump(), templates)
        if found is not None:
            out.append(where(register.path, row, found[0]) + found[1].text())
    return out


def _where(problem: str) -> str:
    """`file:line: yaml.path` of a `file:line: yaml.path: message` problem."""
    return ": ".join(problem.split(": ", 2)[:2])


def summary(site: Site) -> str:
    """One line of what a good site file holds."""
    spec = site.spec
    return (
        f"{spec.site.name}: {len(spec.assets)} assets, {len(spec.devices)} devices, "
        f"{len(site.profiles)} profiles, {len(spec.rules)} rules"
    )


def check_sites_dir(folder: Path) -> int:
    """`check-config --sites DIR`: every site file of the folder, as the services would load
    them (one site file per site id); 0 when all are good, 2 otherwise."""
    from propwatch.clock import SystemClock
    from propwatch.messages import say
    from propwatch.site_directory import FileState, SiteDirectory

    if not folder.is_dir():
        print(say(f"{folder}: 不是目录", f"{folder}: not a folder"), file=sys.stderr)
        return 2
    directory = SiteDirectory(folder, SystemClock())
    directory.rescan()
    states = directory.states()
    refused = [s for s in states if s.state is FileState.REFUSED]
    sites = sum(1 for s in states if s.site_id is not None and s.state is FileState.LOADED)
    for state in states:
        site = directory.sites.get(state.site_id or "")
        if state.state is FileState.LOADED and site is not None:
            print(f"{state.path}: OK — {summary(site)}")
        elif state.state is FileState.LOADED:  # organisation.yaml
            regions = len(directory.organisation.regions)
            print(f"{state.path}: OK — {state.site_name}: {regions} regions")
        else:
            print(f"{state.path}: " + say("配置错误:", "configuration error:"), file=sys.stderr)
            for problem in state.problems:
                print(f"  {problem}", file=sys.stderr)
    print(
        say(
            f"{folder}: {sites} 个小区可加载, {len(refused)} 个文件被拒绝",
            f"{folder}: {sites} sites load, {len(refused)} files refused",
        )
    )
    return 2 if refused else 0
