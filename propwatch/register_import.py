"""导入登记表: check a CSV or XLSX register (设备台账, 维保单位, 维保合同, 保养计划) against the
site file, then write it where the site file reads it (`assets_file:`, `plans_file:` …, beside
it).

The dry run checks the file exactly as the loader would once it is in place — for assets the
site's zones, devices, parents and the rules and plans naming them; for contracts their
contractor, assets and technician; for plans their targets, template and schedule — and names
file, row, column and problem for each fault; nothing is written unless every row is good.
Applying writes the register (and adds its `*_file:` line to a site file without one); a
register that already holds the same rows is left untouched, so importing twice changes
nothing. The services take it on their next load of the site file, which the site directory
does by itself.

The file is the whole register: an item of the current register that the file leaves out is
removed from it (the registry retires a removed asset; its history stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from propwatch.check_config import register_schedule_problems
from propwatch.config_file import read_yaml
from propwatch.messages import say
from propwatch.register_files import RegisterKind, write_atomic
from propwatch.site import Site, inspect_parsed


@dataclass
class ImportOutcome:
    """What the file holds, what it would change in the register, and what is wrong."""

    target: Path
    rows: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    in_site_file: int = 0
    problems: list[str] = field(default_factory=list)
    written: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def register_target(kind: RegisterKind[Any], site_path: Path, data: object) -> tuple[Path, bool]:
    """Where the register lives (the site file's `*_file`, else `<site>.<section>.csv` beside
    it) and whether the site file names it already."""
    named = data.get(kind.file_field) if isinstance(data, dict) else None
    if isinstance(named, str) and named:
        return site_path.parent / named, True
    return site_path.parent / f"{site_path.stem}.{kind.section}.csv", False


def _own(kind: RegisterKind[Any], data: object) -> dict[str, BaseModel]:
    """The site file's own items of the section (those that validate; the check reports the
    rest)."""
    raw = data.get(kind.section) if isinstance(data, dict) else None
    out: dict[str, BaseModel] = {}
    for item in raw if isinstance(raw, list) else []:
        try:
            model = kind.model.model_validate(item)
        except ValidationError:
            continue
        out.setdefault(str(attrgetter("id")(model)), model)
    return out


def import_register(
    kind: RegisterKind[Any],
    site_path: Path,
    source: Path,
    *,
    apply: bool,
    data: bytes | None = None,
) -> ImportOutcome:
    """Check `source` (its bytes `data` if given) as the site's register of `kind`; with
    `apply` and no problem, write it. Raises ConfigError when the site file cannot be read."""
    parsed, lines = read_yaml(site_path)
    target, declared = register_target(kind, site_path, parsed)
    outcome = ImportOutcome(target=target)
    register = kind.read(source, data)
    # an exported row the site file itself holds, unchanged, stays there
    own = _own(kind, parsed)
    keep = [
        (a, r) for a, r in zip(register.items, register.rows, strict=True) if own.get(a.id) != a
    ]
    outcome.in_site_file = len(register.items) - len(keep)
    register.items, register.rows = [a for a, _ in keep], [r for _, r in keep]
    outcome.rows = len(register.items)
    new = list(register.items)
    site, problems = inspect_parsed(site_path, parsed, lines, {kind.section: register})
    if site is not None:
        problems += register_schedule_problems(site, only=kind.section)
    outcome.problems = sorted(problems, key=lambda p: _row_of(p, f"{source}:"))
    current = _current(kind, target)
    for item in new:
        before = current.get(item.id)
        if before is None:
            outcome.created.append(item.id)
        elif before != item:
            outcome.updated.append(item.id)
        else:
            outcome.unchanged += 1
    ids = {item.id for item in new}
    outcome.removed = [code for code in current if code not in ids]
    if not apply or problems:
        return outcome
    if outcome.changes or list(current) != [item.id for item in new] or not target.exists():
        write_atomic(target, kind.encode(new, target, zh=False))
        outcome.written = True
    if not declared:
        text = site_path.read_text(encoding="utf-8")
        sep = "" if text.endswith("\n") else "\n"
        line = (
            f"{kind.file_field}: {target.name}  # {kind.noun_zh}, propwatch {kind.section} import\n"
        )
        write_atomic(site_path, (text + sep + line).encode("utf-8"))
        outcome.written = True
    return outcome


def _row_of(problem: str, prefix: str) -> tuple[int, int]:
    """The file's problems first, in row order; the site file's after, as found."""
    if problem.startswith(prefix):
        row = problem[len(prefix) :].split(":", 1)[0]
        return (0, int(row)) if row.isdigit() else (0, 0)
    return (1, 0)


def _current(kind: RegisterKind[Any], target: Path) -> dict[str, Any]:
    if not target.exists():
        return {}
    return {item.id: item for item in kind.read(target).items}


def export_register(kind: RegisterKind[Any], site: Site, path: Path | None) -> bytes:
    """Every item of the section (the site file's own and its register's), headed in Chinese,
    as the import reads them; ValueError for an item the table cannot hold."""
    return kind.encode(getattr(site.spec, kind.section), path, zh=True)


def summary(outcome: ImportOutcome, apply: bool) -> str:
    counts = say(
        f"{outcome.rows} 行：新增 {len(outcome.created)}，更新 {len(outcome.updated)}，"
        f"不变 {outcome.unchanged}，移除 {len(outcome.removed)}",
        f"{outcome.rows} rows: {len(outcome.created)} new, {len(outcome.updated)} changed, "
        f"{outcome.unchanged} unchanged, {len(outcome.removed)} removed",
    )
    if outcome.in_site_file:
        counts += say(
            f"（另有 {outcome.in_site_file} 行与站点文件中的相同，留在站点文件）",
            f" ({outcome.in_site_file} rows as the site file has them stay there)",
        )
    if outcome.problems:
        return say(
            f"发现 {len(outcome.problems)} 个问题，未写入任何内容",
            "problems found; nothing written",
        )
    if not apply:
        return say(f"检查通过，{counts}；未写入（加 --apply 写入）", f"OK, {counts}; dry run")
    if not outcome.written:
        return say(f"无变化：{counts}", f"nothing to change: {counts}")
    return say(f"已写入 {outcome.target}：{counts}", f"written to {outcome.target}: {counts}")
