"""Sites as data (`--sites DIR`): every site file of a folder, kept loaded while files change.

A central maintenance or API process serves every property of a company. Adding a property is
dropping its site file into the folder; a change or a removal takes effect on the next rescan
(periodic, or at once on SIGHUP) without a restart. Each changed file is checked whole first
(`propwatch.check_config`: schema, references, schedules, profiles); a file that fails is refused
with its `file:line: field: message` problems while its site keeps running on its last good
version, and every other site is untouched.

`sites` is a snapshot: a new dict on every change, never mutated, so a reader in another thread
iterates it safely. Listeners (`on_change`) learn of each new snapshot.

With `--site FILE` the same watch runs over that one file.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from propwatch.check_config import check_config, profile_files
from propwatch.clock import Clock
from propwatch.config_file import ConfigError
from propwatch.messages import say
from propwatch.organisation import (
    ORGANISATION_FILE,
    Organisation,
    load_organisation,
    region_problems,
)
from propwatch.site import Site

log = logging.getLogger(__name__)

RESCAN_SECONDS = 30.0
"""Seconds between rescans of the folder; SIGHUP rescans at once."""


class FileState(StrEnum):
    LOADED = "loaded"  # 已加载: the file as it is now is what runs
    REFUSED = "refused"  # 已拒绝: the file as it is now has problems; its last good version runs


@dataclass(frozen=True)
class SiteFileState:
    """What became of one site file at its last check."""

    path: Path
    state: FileState
    site_id: str | None  # the site this file serves (its last good version), or None
    site_name: str | None
    problems: tuple[str, ...] = ()  # file:line: field: message, when refused
    checked_at: datetime | None = None
    loaded_at: datetime | None = None  # when the version that runs was loaded


@dataclass
class SiteChanges:
    """What one rescan changed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.refused)


Signature = tuple[int, int, int]  # (mtime_ns, size, inode): a file changed when it differs


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while files are checked.

    Checking 200 site files allocates millions of short-lived objects (YAML nodes, data,
    models), and the allocations alone set off a dozen full collections, each walking every
    live object of the process: a third of the CPU of a cold scan, more on a rescan with every
    site already loaded. What a check leaves behind holds no reference cycle and is freed as
    it goes; the collector runs again as soon as the scan ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SiteDirectory:
    """The site files of a folder (or one file), their loaded sites and their states."""

    def __init__(self, path: Path, clock: Clock, *, single_file: bool = False) -> None:
        self.path = path
        self.clock = clock
        self.single_file = single_file
        self.sites: Mapping[str, Site] = {}
        # 集团 and 区域 (`organisation.yaml` beside the site files); its last good version
        self.organisation = Organisation.implicit()
        self._organisation_seen: Signature | None = None
        self._states: dict[Path, SiteFileState] = {}
        self._seen: dict[Path, Signature] = {}
        # a site file's registers (`assets_file`, `contractors_file`, `contracts_file`,
        # `plans_file`) and their signatures when last checked
        self._registers: dict[Path, list[tuple[Path, Signature | None]]] = {}
        self._profiles_seen: dict[Path, Signature] = {}
        self._listeners: list[Callable[[Mapping[str, Site]], None]] = []
        self._lock = threading.Lock()  # one rescan at a time (timer and SIGHUP may meet)
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rescans = 0

    @classmethod
    def of_file(cls, path: Path, clock: Clock) -> SiteDirectory:
        return cls(path, clock, single_file=True)

    def files(self) -> list[Path]:
        """The site files: `*.yaml` of the folder, but not hidden files (editors' temporary
        copies) nor the organisation file."""
        if self.single_file:
            return [self.path]
        if not self.path.is_dir():
            return []
        return sorted(
            p
            for p in self.path.glob("*.yaml")
            if not p.name.startswith(".") and p.name != ORGANISATION_FILE and p.is_file()
        )

    def states(self) -> list[SiteFileState]:
        return [self._states[p] for p in sorted(self._states)]

    def state_of(self, site_id: str) -> SiteFileState | None:
        return next((s for s in self._states.values() if s.site_id == site_id), None)

    def health(self) -> dict[str, int]:
        refused = sum(1 for s in self._states.values() if s.state is FileState.REFUSED)
        return {"sites": len(self.sites), "site_files_refused": refused, "rescans": self.rescans}

    def on_change(self, listener: Callable[[Mapping[str, Site]], None]) -> None:
        """Call `listener` with each new snapshot of the sites (from the rescanning thread)."""
        self._listeners.append(listener)

    def _profiles_signature(self, files: list[Path]) -> dict[Path, Signature]:
        folders = {f.parent for f in files}
        out: dict[Path, Signature] = {}
        for folder in folders:
            for p in profile_files(folder / "site.yaml"):
                sig = _signature(p)
                if sig is not None:
                    out[p] = sig
        return out

    def rescan(self) -> SiteChanges:
        """Check what changed on disk and load it; blocking (disk, parsing): run in a thread."""
        with self._lock, _collector_paused():
            return self._rescan()

    def _rescan(self) -> SiteChanges:
        self.rescans += 1
        now = self.clock.now()
        files = self.files()
        profiles = self._profiles_signature(files)
        recheck_all = profiles != self._profiles_seen
        self._profiles_seen = profiles
        organisation_changed = self._read_organisation(now)
        recheck_all = recheck_all or organisation_changed
        sites = dict(self.sites)
        by_file = {p: s.site_id for p, s in self._states.items() if s.site_id is not None}
        changes = SiteChanges()
        for gone in [p for p in self._states if p not in files and p.name != ORGANISATION_FILE]:
            site_id = by_file.get(gone)
            del self._states[gone]
            self._seen.pop(gone, None)
            running = sites.get(site_id) if site_id is not None else None
            if site_id is not None and running is not None and running.path == gone:
                del sites[site_id]
                changes.removed.append(site_id)
                log.info("site %s removed (%s is gone)", site_id, gone)
        for path in files:
            sig = _signature(path)
            if sig is None and self.single_file and path in self._states:
                self._lost(path, now, changes)
                continue
            if sig is None or (
                not recheck_all and self._seen.get(path) == sig and not self._register_moved(path)
            ):
                continue
            self._seen[path] = sig
            self._check(path, now, sites, changes)
        if changes.added or changes.changed or changes.removed or organisation_changed:
            self.sites = sites
            for listener in self._listeners:
                listener(sites)
        return changes

    def _register_moved(self, path: Path) -> bool:
        """A register the site file reads changed since the file was checked."""
        return any(_signature(p) != sig for p, sig in self._registers.get(path, []))

    def _read_organisation(self, now: datetime) -> bool:
        """Load `organisation.yaml` when it changed; True when the organisation in force did.
        A broken file is refused (shown in `states()`) and the last good one stays."""
        if self.single_file:
            return False
        path = self.path / ORGANISATION_FILE
        sig = _signature(path)
        if sig == self._organisation_seen:
            return False
        self._organisation_seen = sig
        if sig is None:
            self._states.pop(path, None)
            changed = self.organisation.declared
            self.organisation = Organisation.implicit()
            return changed
        try:
            organisation = load_organisation(path)
        except ConfigError as exc:
            before = self._states.get(path)
            self._states[path] = SiteFileState(
                path,
                FileState.REFUSED,
                None,
                None,
                tuple(exc.problems),
                now,
                before.loaded_at if before is not None else None,
            )
            log.error("%s refused; the last good one stays:\n  %s", path, "\n  ".join(exc.problems))
            return False
        self._states[path] = SiteFileState(
            path, FileState.LOADED, None, organisation.company_name, (), now, now
        )
        self.organisation = organisation
        return True

    def _lost(self, path: Path, now: datetime, changes: SiteChanges) -> None:
        """`--site FILE` gone (moved, or mid-replace by an editor): its site keeps running."""
        before = self._states[path]
        self._seen.pop(path, None)
        if (
            before.state is FileState.REFUSED
            and before.problems
            and "(missing)" in before.problems[0]
        ):
            return
        problem = f"{path}:1: " + say("文件不存在 (missing)", "the file does not exist (missing)")
        self._states[path] = SiteFileState(
            path,
            FileState.REFUSED,
            before.site_id,
            before.site_name,
            (problem,),
            now,
            before.loaded_at,
        )
        changes.refused.append(path)
        log.error("site file %s is missing; site %s keeps running", path, before.site_id)

    def _check(
        self, path: Path, now: datetime, sites: dict[str, Site], changes: SiteChanges
    ) -> None:
        before = self._states.get(path)
        site, problems = check_config(path)
        registers = site.register_paths if site is not None else []
        if registers:
            self._registers[path] = [(p, _signature(p)) for p in registers]
        else:
            self._registers.pop(path, None)
        if site is not None and not problems:
            problems = region_problems(self.organisation, {site.id: site})
        if site is not None and not problems:
            owner = sites.get(site.id)
            if owner is not None and owner.path != path:
                problems = [
                    f"{path}:1: site.id: "
                    + say(
                        f"小区 {site.id} 已由 {owner.path.name} 提供, 一个小区只能有一个站点文件",
                        f"site {site.id} is already served by {owner.path.name}; "
                        "one site file per site",
                    )
                ]
        if site is None or problems:
            running = before.site_id if before is not None else None
            self._states[path] = SiteFileState(
                path,
                FileState.REFUSED,
                running,
                before.site_name if before is not None else None,
                tuple(problems),
                now,
                before.loaded_at if before is not None else None,
            )
            changes.refused.append(path)
            # a single file refused at the first check stops the start, which says why
            first_of_one = before is None and self.single_file
            if not first_of_one and (before is None or before.problems != tuple(problems)):
                log.error(
                    "site file %s refused%s:\n  %s",
                    path,
                    f" (site {running} keeps its last good version)" if running else "",
                    "\n  ".join(problems),
                )
            return
        if before is not None and before.site_id not in (None, site.id):
            # the file now serves another id: the old one goes
            old = before.site_id
            if old is not None and old in sites and sites[old].path == path:
                del sites[old]
                changes.removed.append(old)
        (changes.changed if site.id in sites else changes.added).append(site.id)
        sites[site.id] = site
        self._states[path] = SiteFileState(
            path, FileState.LOADED, site.id, site.spec.site.name, (), now, now
        )
        log.info("site %s (%s) loaded from %s", site.id, site.spec.site.name, path)

    def request_rescan(self) -> None:
        """Rescan as soon as possible (SIGHUP); safe from a signal handler or another thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def watch(self, interval: float = RESCAN_SECONDS) -> None:
        """Rescan every `interval` seconds of the clock, or when `request_rescan` is called.

        A rescan that fails (a disk error) is logged and tried again; sites keep running."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while True:
            sleeper = asyncio.ensure_future(self.clock.sleep(interval))
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()
            self._wake.clear()
            try:
                await asyncio.to_thread(self.rescan)
            except Exception:
                log.exception("rescan of %s failed; the sites loaded keep running", self.path)
