"""导入设备台账: check a CSV or XLSX register against the site file, then write it where the
site file reads its assets (`assets_file:`, next to it).

The dry run checks the file exactly as the loader would once it is in place — the site's
zones, devices, parents, the rules and plans naming assets — and names file, row, column and
problem for each fault; nothing is written unless every row is good. Applying writes the
register (and adds `assets_file:` to a site file without one); a register that already holds
the same assets is left untouched, so importing twice changes nothing. The registry takes the
assets on the services' next load of the site file, which the site directory does by itself.

The file is the whole register: an asset of the current register that the file leaves out
is removed from it (the registry retires it; its history stays).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from propwatch.asset_register import Register, read_register, to_csv, to_xlsx
from propwatch.config_file import read_yaml
from propwatch.messages import say
from propwatch.site import Asset, Site, inspect_parsed


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


def register_target(site_path: Path, data: object) -> tuple[Path, bool]:
    """Where the register lives (the site file's `assets_file`, else `<site>.assets.csv`
    beside it) and whether the site file names it already."""
    named = data.get("assets_file") if isinstance(data, dict) else None
    if isinstance(named, str) and named:
        return site_path.parent / named, True
    return site_path.parent / f"{site_path.stem}.assets.csv", False


def _own_assets(data: object) -> dict[str, Asset]:
    """The site file's own `assets:` (those that validate; the check reports the rest)."""
    raw = data.get("assets") if isinstance(data, dict) else None
    out: dict[str, Asset] = {}
    for item in raw if isinstance(raw, list) else []:
        try:
            asset = Asset.model_validate(item)
        except ValidationError:
            continue
        out.setdefault(asset.id, asset)
    return out


def import_assets(
    site_path: Path, source: Path, *, apply: bool, data: bytes | None = None
) -> ImportOutcome:
    """Check `source` (its bytes `data` if given) as the site's register; with `apply` and no
    problem, write it. Raises ConfigError when the site file itself cannot be read."""
    parsed, lines = read_yaml(site_path)
    target, declared = register_target(site_path, parsed)
    outcome = ImportOutcome(target=target)
    register = read_register(source, data)
    # an exported row the site file itself holds, unchanged, stays there
    own = _own_assets(parsed)
    keep = [
        (a, r) for a, r in zip(register.assets, register.rows, strict=True) if own.get(a.id) != a
    ]
    outcome.in_site_file = len(register.assets) - len(keep)
    register.assets, register.rows = [a for a, _ in keep], [r for _, r in keep]
    outcome.rows = len(register.assets)
    new = list(register.assets)
    _site, problems = inspect_parsed(site_path, parsed, lines, register)
    outcome.problems = sorted(problems, key=lambda p: _row_of(p, f"{source}:"))
    current = _current(target)
    for asset in new:
        before = current.get(asset.id)
        if before is None:
            outcome.created.append(asset.id)
        elif before != asset:
            outcome.updated.append(asset.id)
        else:
            outcome.unchanged += 1
    ids = {a.id for a in new}
    outcome.removed = [code for code in current if code not in ids]
    if not apply or problems:
        return outcome
    if outcome.changes or list(current) != [a.id for a in new] or not target.exists():
        body = to_xlsx(new) if target.suffix.lower() == ".xlsx" else to_csv(new).encode()
        _write(target, body)
        outcome.written = True
    if not declared:
        text = site_path.read_text(encoding="utf-8")
        sep = "" if text.endswith("\n") else "\n"
        line = f"assets_file: {target.name}  # 设备台账, propwatch assets import\n"
        _write(site_path, (text + sep + line).encode("utf-8"))
        outcome.written = True
    return outcome


def _row_of(problem: str, prefix: str) -> tuple[int, int]:
    """The file's problems first, in row order; the site file's after, as found."""
    if problem.startswith(prefix):
        row = problem[len(prefix) :].split(":", 1)[0]
        return (0, int(row)) if row.isdigit() else (0, 0)
    return (1, 0)


def _current(target: Path) -> dict[str, Asset]:
    if not target.exists():
        return {}
    register: Register = read_register(target)
    return {a.id: a for a in register.assets}


def _write(path: Path, body: bytes) -> None:
    """Whole or not at all: a service rescanning meanwhile reads the old file or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)


def export_assets(site: Site, path: Path | None) -> bytes:
    """Every asset of the site (its own and its register's), as the import reads them."""
    assets = site.spec.assets
    if path is not None and path.suffix.lower() == ".xlsx":
        return to_xlsx(assets)
    return to_csv(assets).encode("utf-8")


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
