"""保养模板库: the plan templates shipped with propwatch (`templates/*.yaml`, in Chinese).

A site picks templates by asset kind; a plan names a template and overrides what it must.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from propwatch.config_file import read_yaml, validate_file
from propwatch.site import PlanSpec

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class PlanTemplate(PlanSpec):
    """A plan without targets: `kinds` says which assets it is written for."""

    name: str
    kinds: list[str] = Field(min_length=1)


class _TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    templates: list[PlanTemplate]


@cache
def template_library() -> dict[str, PlanTemplate]:
    """Every shipped template by id; a broken or duplicated template file fails loudly here."""
    out: dict[str, PlanTemplate] = {}
    for path in sorted(TEMPLATES_DIR.glob("*.yaml")):
        data, lines = read_yaml(path)
        for t in validate_file(path, _TemplateFile, data, lines).templates:
            if t.id in out:
                raise ValueError(f"{path}: template {t.id!r} is defined twice")
            out[t.id] = t
    return out


def templates_for_kind(kind: str) -> list[PlanTemplate]:
    """The templates written for one kind of asset, in library order."""
    return [t for t in template_library().values() if kind in t.kinds]
