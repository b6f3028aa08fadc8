"""Load YAML files into pydantic models with errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration file is wrong; `problems` holds one `file:line: field: message` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    """Build plain data from a composed node, remembering the 1-based line of every location."""
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key == "<<":
                continue
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1  # the key's line, not its value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file into data and a location-to-line map."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{path}{line}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    lines: dict[Loc, int] = {}
    if node is None:
        return {}, lines
    return _walk(node, (), lines), lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest known location on `loc`'s path."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate_file(
    path: Path,
    model: type[M],
    data: Any,
    lines: dict[Loc, int],
    context: dict[str, Any] | None = None,
) -> M:
    """Validate parsed data, translating pydantic's error locations to file lines."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            line = line_of(lines, loc)
            where = f"{path}:{line}" if line else str(path)
            problems.append(f"{where}: {format_loc(loc)}: {err['msg']}")
        raise ConfigError(problems) from None


def load_model(path: Path, model: type[M]) -> M:
    """Read and validate one YAML file."""
    data, lines = read_yaml(path)
    return validate_file(path, model, data, lines)
