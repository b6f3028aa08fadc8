"""Readers for the shipped deployment files, shared by the deploy tests."""

from __future__ import annotations

import fnmatch
import importlib.util
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    return out


def exec_form(args: str) -> list[str]:
    """`["a", "b"]` (JSON) or shell form split like a shell would."""
    if args.startswith("["):
        return list(yaml.safe_load(args))
    return shlex.split(args)


def dockerignore_includes(rel: str, path: Path = ROOT / ".dockerignore") -> bool:
    """Whether Docker sends `rel` in the build context (last matching pattern wins)."""
    included = True
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if _matches(rel, pattern):
            included = negate
    return included


def _matches(rel: str, pattern: str) -> bool:
    if pattern == "**" or fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern + "/"):
        return True
    if pattern.startswith("**/"):
        parts = rel.split("/")
        return any(_matches("/".join(parts[i:]), pattern[3:]) for i in range(len(parts)))
    return False


def compose(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), f"{path} is not a YAML mapping"
    return doc


def load_script(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
