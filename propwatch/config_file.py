"""Load YAML files into pydantic models with errors that name the file, the line and the field.

PyYAML's own loader lets a repeated key silently win, drops nothing but also checks nothing on
merge keys, decodes with a traceback and expands an alias bomb without limit. This loader walks
the composed node graph itself: a repeated key is refused naming both lines, `<<:` merges
(a mapping or a list of them, explicit keys winning) keep the line each key was written on,
a non-UTF-8 byte is reported at its line, and the document's size and the nodes aliases expand
to are bounded, so a hostile or mistaken file is refused in milliseconds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from propwatch.messages import say

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
"""A site file with thousands of devices is a few hundred KiB; past this it is not a site file."""

MAX_ALIAS_NODES = 10_000
"""Nodes that aliases and merge keys may expand to, all aliases together (billion laughs) — or
`ALIAS_NODES_PER_WRITTEN` times the nodes the file writes itself, if more: 3,000 lighting
circuits each merging their defaults are a large site, not an attack, and an exponential
expansion passes any linear bound within a few lines."""

ALIAS_NODES_PER_WRITTEN = 4

MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigError(Exception):
    """A configuration file is wrong; `problems` holds one `file:line: field: message` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Alias(yaml.Node):
    """Where an alias (`*name`) was written, pointing at the node its anchor names."""

    id = "alias"

    def __init__(self, target: yaml.Node, anchor: str, mark: yaml.Mark) -> None:
        super().__init__(target.tag, target.value, mark, mark)
        self.target = target
        self.anchor = anchor


class _Marking(Composer):
    """The composer, keeping each alias as its own node so its line is known, and counting
    the nodes the file writes (the alias bound grows with them)."""

    written = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.written += 1
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            event = self.peek_event()  # type: ignore[attr-defined]
            target = super().compose_node(parent, index)
            assert target is not None
            return _Alias(target, str(event.anchor), event.start_mark)
        return super().compose_node(parent, index)


class _PyLoader(_Marking, yaml.SafeLoader):
    """Pure-Python parsing, where libyaml is missing."""


_MarkedLoader: Callable[[str], Any] = _PyLoader
try:
    from yaml._yaml import CParser

    class _CLoader(_Marking, CParser, SafeConstructor, Resolver):
        """libyaml's parser (eight times faster on a large site) under our composer."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    class _CComposed(CParser, SafeConstructor, Resolver):
        """libyaml's parser and composer both (CSafeLoader's parts), for a file without
        anchors: our composer has no alias to keep there, and a site file reads in three
        quarters of the time."""

        written = 0  # no alias, so no expansion bound to scale

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode:  # the same keys and values recur in every site file
                return _scalar_tag(value, implicit)
            return Resolver.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]

    _MarkedLoader = _CLoader
    _Composed: Callable[[str], Any] | None = _CComposed
except ImportError:  # PyYAML built without libyaml
    _Composed = None

_RESOLVER = Resolver()


@lru_cache(maxsize=16384)
def _scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag of a plain or quoted scalar (no path resolvers are registered: it depends on
    nothing else)."""
    return str(_RESOLVER.resolve(yaml.ScalarNode, value, implicit))  # type: ignore[no-untyped-call]


_ANCHOR = re.compile(r"&[^\s\[\]{},]")
"""What every anchor (`&name`) starts with; text holding none has no alias either (an alias
needs its anchor first). `R&D` in a value matches too, and only costs the slower composer."""


class _Refused(Exception):
    """The walk cannot go on: one problem, already worded."""


class _Walk:
    """Plain data from a composed node graph, with the 1-based line of every location."""

    def __init__(self, path: Path, loader: Any) -> None:
        self.path = path
        self.loader = loader
        self.lines: dict[Loc, int] = {}
        self.problems: list[str] = []
        self.expanded = 0
        self.bound = max(MAX_ALIAS_NODES, ALIAS_NODES_PER_WRITTEN * loader.written)
        self.aliases: list[_Alias] = []  # the aliases being expanded, outermost first
        self.open: set[int] = set()  # containers on the way down, to catch an alias to itself

    def value(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, _Alias):
            return self._through_alias(node, lambda: self.value(node.target, loc))
        if self.aliases:
            self.expanded += 1
            if self.expanded > self.bound:
                outer = self.aliases[0]
                raise _Refused(
                    f"{self.path}:{outer.start_mark.line + 1}: "
                    + say(
                        f"别名 *{outer.anchor} 展开后超过 {self.bound:,} 个节点，已拒绝"
                        "（别名层层引用会让文件膨胀）",
                        f"alias *{outer.anchor} expands past {self.bound:,} nodes; refused "
                        "(aliases of aliases blow a file up)",
                    )
                )
        if isinstance(node, yaml.MappingNode):
            self.open.add(id(node))
            try:
                out: dict[Any, Any] = {}
                for key, key_node, value_node in self.pairs(node, loc):
                    self.lines[(*loc, key)] = key_node.start_mark.line + 1
                    out[key] = self.value(value_node, (*loc, key))
                return out
            finally:
                self.open.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            self.open.add(id(node))
            try:
                return [self.value(item, (*loc, i)) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(id(node))
        try:
            return self.loader.construct_object(node)
        except ValueError:  # 2024-13-01 looks like a date to YAML but is none: the schema says so
            return node.value

    def _through_alias(self, alias: _Alias, walk: Any) -> Any:
        if id(alias.target) in self.open:
            raise _Refused(
                f"{self.path}:{alias.start_mark.line + 1}: "
                + say(
                    f"别名 *{alias.anchor} 引用了包含它自己的节点",
                    f"alias *{alias.anchor} refers to a node that contains it",
                )
            )
        self.aliases.append(alias)
        try:
            return walk()
        finally:
            self.aliases.pop()

    def pairs(self, node: yaml.MappingNode, loc: Loc) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """A mapping's keys, merges applied: explicit keys first in precedence, then each
        merged mapping in the order listed (YAML merge-key rules)."""
        explicit: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == MERGE_TAG:
                merged += self._merge_sources(value_node, loc)
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in explicit:
                first = explicit[key][0].start_mark.line + 1
                where = f"{format_loc(loc)}: " if loc else ""
                self.problems.append(
                    f"{self.path}:{key_node.start_mark.line + 1}: {where}"
                    + say(
                        f"重复的键 {key} (第 {first} 行已有)", f"duplicate key {key} (line {first})"
                    )
                )
                continue
            explicit[key] = (key_node, value_node)
        out: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        for key, key_node, value_node in merged:
            out.setdefault(key, (key, key_node, value_node))
        for key, (key_node, value_node) in explicit.items():
            out[key] = (key, key_node, value_node)
        return list(out.values())

    def _merge_sources(self, value: yaml.Node, loc: Loc) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The pairs `<<:` brings in: one mapping, or a list of mappings (earlier ones win)."""
        sources = value.value if isinstance(_target(value), yaml.SequenceNode) else [value]
        if isinstance(value, _Alias) and isinstance(value.target, yaml.SequenceNode):
            sources = [_Alias(item, value.anchor, value.start_mark) for item in value.target.value]
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        for source in sources:
            mapping = _target(source)
            if not isinstance(mapping, yaml.MappingNode):
                where = f"{format_loc(loc)}: " if loc else ""
                raise _Refused(
                    f"{self.path}:{source.start_mark.line + 1}: {where}"
                    + say(
                        "合并键 << 的值必须是映射（如 *默认值）或映射的列表",
                        "a merge key << takes a mapping (such as *defaults) or a list of mappings",
                    )
                )
            if isinstance(source, _Alias):
                pairs = self._through_alias(source, lambda m=mapping: self._counted(m, loc))
                # what an alias brings in is counted against the expansion bound when walked
                out += [
                    (k, kn, _Alias(vn, source.anchor, source.start_mark)) for k, kn, vn in pairs
                ]
            else:
                out += self.pairs(mapping, loc)
        return out

    def _counted(
        self, mapping: yaml.MappingNode, loc: Loc
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if id(mapping) in self.open:
            raise _Refused(
                f"{self.path}:{mapping.start_mark.line + 1}: "
                + say("合并键引用了自身", "a merge key refers to itself")
            )
        self.open.add(id(mapping))
        try:
            return self.pairs(mapping, loc)
        finally:
            self.open.discard(id(mapping))


def _target(node: yaml.Node) -> yaml.Node:
    return node.target if isinstance(node, _Alias) else node


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw.count(b"\n", 0, start) + 1
        column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        byte = raw[start]
        raise ConfigError(
            [
                f"{path}:{line}: "
                + say(
                    f"不是 UTF-8 编码（第 {column} 列的字节 0x{byte:02x}）；"
                    "请用 UTF-8 另存此文件（GBK 等编码的中文会这样）",
                    f"not UTF-8 (byte 0x{byte:02x} at column {column}); save the file as "
                    "UTF-8 (Chinese text in GBK looks like this)",
                )
            ]
        ) from None


_TAB = ("不能用 Tab 缩进，请改用空格", "a tab cannot indent YAML; use spaces")
_SYNTAX = (
    # (the start of PyYAML's or libyaml's wording, zh-CN, English)
    ("found character '\\t' that cannot start any token", *_TAB),
    ("found a tab character", *_TAB),
    ("found unexpected end of stream", "文件在此处意外结束", "the file ends unexpectedly here"),
    (
        "mapping values are not allowed",
        "此处不能出现“键: 值”（缩进不对，或值里的冒号需要加引号）",
        "a key: value is not allowed here (wrong indentation, or quote a value holding ': ')",
    ),
    ("could not find expected ':'", "缺少冒号“:”（应为“键: 值”）", "a ':' is missing (key: value)"),
    (
        "did not find expected ',' or ']'",
        "方括号列表未闭合：缺少“,”或“]”",
        "unclosed [ list: a ',' or ']' is missing",
    ),
    (
        "expected ',' or ']'",
        "方括号列表未闭合：缺少“,”或“]”",
        "unclosed [ list: a ',' or ']' is missing",
    ),
    (
        "did not find expected ',' or '}'",
        "花括号映射未闭合：缺少“,”或“}”",
        "unclosed { mapping: a ',' or '}' is missing",
    ),
    (
        "expected ',' or '}'",
        "花括号映射未闭合：缺少“,”或“}”",
        "unclosed { mapping: a ',' or '}' is missing",
    ),
    (
        "did not find expected key",
        "缩进与上文对不上（同一层的键须对齐）",
        "the indentation does not match the lines above (keys of one level align)",
    ),
    (
        "expected <block end>",
        "缩进与上文对不上（同一层的键须对齐）",
        "the indentation does not match the lines above (keys of one level align)",
    ),
    (
        "but found another document",
        "一个文件只能有一个文档（去掉多余的 ---）",
        "one document per file (remove the extra ---)",
    ),
    (
        "found undefined alias",
        "未定义的别名（先用 &名字 定义锚点）",
        "undefined alias (define &name first)",
    ),
    (
        "found duplicate anchor",
        "锚点重复（&名字 只能定义一次）",
        "duplicate anchor (&name defined twice)",
    ),
)


def _syntax_problem(path: Path, exc: yaml.YAMLError) -> str:
    """`file:line:column: YAML 语法错误: …`; an unclosed quote is reported where it opened."""
    problem = str(getattr(exc, "problem", "") or exc)
    context = str(getattr(exc, "context", "") or "")
    mark = getattr(exc, "problem_mark", None)
    tag = re.match(
        r"could not determine a constructor for the tag '(?:tag:yaml.org,2002:)?(.*)'", problem
    )
    if tag:
        text = say(
            f"不支持的标签 !!{tag.group(1)}（站点文件只用普通的 YAML 值）",
            f"unsupported tag !!{tag.group(1)} (site files hold plain YAML values)",
        )
    elif context.startswith("while scanning a quoted scalar"):
        mark = getattr(exc, "context_mark", None) or mark
        text = say("引号未闭合（字符串从这里开始）", "unclosed quote (the string starts here)")
    else:
        text = next((say(zh, en) for key, zh, en in _SYNTAX if problem.startswith(key)), problem)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return f"{where}: " + say(f"YAML 语法错误：{text}", f"invalid YAML: {text}")


def _unprintable(path: Path, text: str, exc: yaml.reader.ReaderError) -> str:
    """A control character YAML does not allow (pasted from a PDF or a terminal), at its place."""
    # libyaml counts bytes, PyYAML characters: find the character ourselves, by PyYAML's rule
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    at = found.start() if found else min(max(exc.position, 0), len(text))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    char = f"U+{ord(text[at]):04X}" if found else repr(exc.character)
    return f"{path}:{line}:{column}: " + say(
        f"不允许的控制字符 {char}（文件里混入了看不见的字符，请删去）",
        f"control character {char} is not allowed (an invisible character; delete it)",
    )


parses: Counter[Path] = Counter()
"""Files parsed, by path as given: what loading a folder costs is counted, not timed."""


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file into data and a location-to-line map."""
    parses[path] += 1
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ConfigError(
                [
                    f"{path}: "
                    + say(
                        f"文件过大（{size:,} 字节，上限 {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB）",
                        f"file too large ({size:,} bytes, at most "
                        f"{MAX_DOCUMENT_BYTES // 1024 // 1024} MiB)",
                    )
                ]
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [f"{path}: " + say(f"无法读取：{exc.strerror}", f"cannot read: {exc.strerror}")]
        ) from exc
    text = _decode(path, raw)
    if _Composed is not None and _MarkedLoader is _CLoader and not _ANCHOR.search(text):
        try:
            return _composed(path, _Composed(text))
        except (yaml.YAMLError, RecursionError):
            pass  # worded below, by the composer every error message was written against
    try:
        loader = _MarkedLoader(text)
    except yaml.reader.ReaderError as exc:  # the pure-Python reader checks every character first
        raise ConfigError([_unprintable(path, text, exc)]) from None
    try:
        walk, data = _walked(path, loader)
    except yaml.reader.ReaderError as exc:
        raise ConfigError([_unprintable(path, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(path, exc)]) from None
    except RecursionError:
        raise ConfigError(
            [f"{path}: " + say("嵌套层次过深，已拒绝", "nested too deeply; refused")]
        ) from None
    except _Refused as exc:
        raise ConfigError([str(exc)]) from None
    finally:
        loader.dispose()
    return _finished(walk, data)


def _walked(path: Path, loader: Any) -> tuple[_Walk, Any]:
    """The file's one document, walked into data with each value's line (either composer)."""
    node = loader.get_single_node()
    if node is None:
        raise ConfigError([f"{path}:1: " + say("文件是空的（没有任何内容）", "the file is empty")])
    walk = _Walk(path, loader)
    return walk, walk.value(node, ())


def _composed(path: Path, loader: Any) -> tuple[Any, dict[Loc, int]]:
    """`read_yaml` of a file without anchors, composed by libyaml; a YAML error is left to the
    caller, which words it by reading the file again the usual way."""
    try:
        walk, data = _walked(path, loader)
    except _Refused as exc:
        raise ConfigError([str(exc)]) from None
    finally:
        loader.dispose()
    return _finished(walk, data)


def _finished(walk: _Walk, data: Any) -> tuple[Any, dict[Loc, int]]:
    if walk.problems:
        raise ConfigError(list(dict.fromkeys(walk.problems)))
    if isinstance(data, dict):  # `x-…:` keys hold anchors for merges, as in Compose files
        data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    return data, walk.lines


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
    return out or say("（顶层）", "(top level)")


def validate_file(
    path: Path,
    model: type[M],
    data: Any,
    lines: dict[Loc, int],
    context: dict[str, Any] | None = None,
) -> M:
    """Validate parsed data; each error in the user's terms at the line it concerns."""
    from propwatch.config_errors import explain

    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for loc, message in explain(model, data, exc.errors()):
            line = line_of(lines, loc)
            where = f"{path}:{line}" if line else str(path)
            problems.append(
                f"{where}: {format_loc(loc)}: {message}" if loc else f"{where}: {message}"
            )
        raise ConfigError(problems) from None


def load_model(path: Path, model: type[M]) -> M:
    """Read and validate one YAML file."""
    data, lines = read_yaml(path)
    return validate_file(path, model, data, lines)
