"""pydantic's validation errors in the words of the person who wrote the file.

pydantic speaks of its own schema: `rules[1].threshold.sevrity` (a union member the file never
names), `Extra inputs are not permitted`, `Input should be …`. Here each error gets the path as
written in the YAML, a message in zh-CN or English (propwatch.messages), the allowed values and
a "did you mean" from the model's own field names and choices.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag
from pydantic_core import ErrorDetails

from propwatch.messages import say

Loc = tuple[str | int, ...]


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to a misspelt `word`, if any is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`，是否想写 x？` (or `; did you mean x?`), or nothing when no choice is close."""
    guess = nearest(str(word), choices) if isinstance(word, str | int) else None
    if guess is None:
        return ""
    return say(f"，是否想写 {guess}？", f"; did you mean {guess}?")


def unknown_reference(what_zh: str, what_en: str, value: str, known: Iterable[str]) -> str:
    """`未知的片区 zone-z，是否想写 zone-a？`; without a close one, the ids there are (a few)."""
    known = sorted(set(known))
    hint = did_you_mean(value, known)
    if not hint:
        if not known:
            hint = say(f"（文件中没有任何{what_zh}）", f" (the file defines no {what_en})")
        elif len(known) <= 8:
            hint = say(f"；已有：{'、'.join(known)}", f"; known: {', '.join(known)}")
    return say(f"未知的{what_zh} {value}", f"unknown {what_en} {value}") + hint


def show(value: object) -> str:
    """A value as the file has it, short."""
    if isinstance(value, dict):
        return say("映射", "a mapping")
    if isinstance(value, list):
        return say("列表", "a list")
    if value is None:
        return say("空值", "nothing")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if isinstance(value, str) and (not text or re.search(r"[\s:#,]", text)):
        return repr(text)
    return text if len(text) <= 60 else text[:57] + "…"


def _choices(ctx_expected: str) -> list[str]:
    """`'a', 'b' or 'c'` (pydantic's wording of a literal or enum) → ['a', 'b', 'c']."""
    return [a or b for a, b in re.findall(r"'([^']*)'|([-\w.]+)", ctx_expected) if (a or b) != "or"]


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    if get_origin(tp) in (Union, types.UnionType):
        return list(get_args(tp))
    return []


def _tag(tp: Any) -> str | None:
    if get_origin(tp) is Annotated:
        for meta in get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None


def _names_member(tp: Any, part: str | int) -> bool:
    """Whether `part` is pydantic's name for a member of the union `tp` (a tag or a class)."""
    return any(
        _tag(m) == part or getattr(_strip(m), "__name__", None) == part
        for m in _union_members(_strip(tp))
    )


def _step(tp: Any, part: str | int) -> Any:
    """The type one location part further down (None when it cannot be told)."""
    tp = _strip(tp)
    members = _union_members(tp)
    if members:
        for m in members:
            if _tag(m) == part or getattr(_strip(m), "__name__", None) == part:
                return _strip(m)
        if len(members) == 2 and type(None) in members:  # X | None
            return _step(next(m for m in members if m is not type(None)), part)
        return None
    origin = get_origin(tp)
    if origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
        return get_args(tp)[0] if get_args(tp) else None
    if origin is dict:
        args = get_args(tp)
        return args[1] if args else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        return field.annotation if field is not None else None
    return None


def _walk(model: type[BaseModel], data: Any, raw: Loc) -> tuple[Loc, Any, Any]:
    """The location as written, the type found there and the value the file holds there.

    pydantic's location also names union members it tried (`threshold`, `str-enum[Category]`)
    and `[key]` for a mapping key; those are not in the file and are left out."""
    tp: Any = model
    here = data
    written: list[str | int] = []
    for i, part in enumerate(raw):
        if _names_member(tp, part):
            tp = _step(tp, part)
            continue
        if part == "[key]":
            continue
        in_file = (isinstance(here, dict) and part in here) or (
            isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)
        )
        if in_file:
            written.append(part)
            here = here[part]
            tp = _step(tp, part)
        elif i == len(raw) - 1 and isinstance(here, dict) and isinstance(part, str):
            written.append(part)  # a missing field: named, though not written
            tp = _step(tp, part)
            here = None
    return tuple(written), tp, here


def _fields(tp: Any) -> list[str]:
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    names: list[str] = []
    for m in _union_members(tp):
        names += [n for n in _fields(m) if n not in names]
    return names


def _tags(tp: Any) -> list[str]:
    return [t for t in (_tag(m) for m in _union_members(_strip(tp))) if t]


def _allowed(tp: Any) -> list[str]:
    """The values a literal or enum (or a union of them) allows."""
    tp = _strip(tp)
    if get_origin(tp) is Literal:
        return [str(a) for a in get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return [str(m.value) for m in tp]
    out: list[str] = []
    for m in _union_members(tp):
        out += [v for v in _allowed(m) if v not in out]
    return out


def one_of(value: object, allowed: list[str]) -> str:
    """`x 不是可选的值；可选：a、b，是否想写 a？`"""
    listed = "、".join(allowed)
    if isinstance(value, dict | list) or value is None:
        return say(f"应为以下之一：{listed}", f"expected one of {', '.join(allowed)}") + _got(value)
    return say(
        f"{show(value)} 不是可选的值；可选：{listed}",
        f"{show(value)} is not allowed; use one of {', '.join(allowed)}",
    ) + did_you_mean(value, allowed)


_EXPECTED = {
    "int": ("整数", "a whole number"),
    "float": ("数字", "a number"),
    "bool": ("true 或 false", "true or false"),
    "str": ("文本", "text"),
    "list": ("列表（以 - 开头的若干项）", "a list (items starting with -)"),
    "dict": ("映射（键: 值）", "a mapping (key: value)"),
    "date": ("日期，如 2025-03-01", "a date such as 2025-03-01"),
    "datetime": ("日期和时间，如 2025-03-01 08:00", "a date and time such as 2025-03-01 08:00"),
    "time": ("时刻，如 08:00", "a time of day such as 08:00"),
}

_TYPE_EXPECTS = {
    "int_parsing": "int",
    "int_type": "int",
    "int_from_float": "int",
    "float_parsing": "float",
    "float_type": "float",
    "bool_parsing": "bool",
    "bool_type": "bool",
    "string_type": "str",
    "list_type": "list",
    "tuple_type": "list",
    "set_type": "list",
    "dict_type": "dict",
    "model_type": "dict",
    "model_attributes_type": "dict",
    "date_parsing": "date",
    "date_type": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "datetime_parsing": "datetime",
    "datetime_type": "datetime",
    "datetime_from_date_parsing": "datetime",
    "time_parsing": "time",
    "time_type": "time",
}

_PATTERNS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$": (
        "只能用字母、数字和 _ . -，并以字母或数字开头",
        "letters, digits and _ . - only, starting with a letter or digit",
    ),
    r"^[A-Za-z0-9][A-Za-z0-9_\-]*$": (
        "只能用字母、数字和 _ -，并以字母或数字开头",
        "letters, digits and _ - only, starting with a letter or digit",
    ),
    r"^https?://": ("应为 http:// 或 https:// 开头的地址", "must be an http:// or https:// URL"),
    r"^[a-z][a-z0-9_]*$": (
        "只能用小写字母、数字和 _，并以字母开头",
        "lower-case letters, digits and _ only, starting with a letter",
    ),
}


def _got(value: object) -> str:
    """`，这里是 abc` / `, got abc`."""
    zh = show(value) if isinstance(value, dict | list) or value is None else f" {show(value)}"
    return say(f"，这里是{zh}", f", got {show(value)}")


def _expects(kind: str, value: object) -> str:
    zh, en = _EXPECTED[kind]
    gap = " " if zh[0].isascii() else ""
    return say(f"应为{gap}{zh}", f"expected {en}") + _got(value)


def _message(err: ErrorDetails, tp: Any, value: object, field: str | int | None) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "extra_forbidden":
        return say(f"未知字段 {field}", f"unknown field {field}") + (
            did_you_mean(field, _fields(tp))
            or say(
                f"；可写的字段：{'、'.join(_fields(tp))}", f"; allowed: {', '.join(_fields(tp))}"
            )
        )
    if kind == "missing":
        return say(f"缺少必填字段 {field}", f"missing required field {field}")
    if kind in ("literal_error", "enum"):
        return one_of(given, _allowed(tp) or _choices(str(ctx.get("expected", ""))))
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        return say(
            f"应为文本，这里是数字 {show(given)}；编号、电话等请加引号：'{show(given)}'",
            f"expected text, got the number {show(given)}; quote ids and phone numbers: "
            f"'{show(given)}'",
        )
    if kind in _TYPE_EXPECTS:
        return _expects(_TYPE_EXPECTS[kind], given)
    bounds = {
        "greater_than": ("gt", "应大于 {}", "must be greater than {}"),
        "greater_than_equal": ("ge", "不能小于 {}", "must be at least {}"),
        "less_than": ("lt", "应小于 {}", "must be less than {}"),
        "less_than_equal": ("le", "不能大于 {}", "must be at most {}"),
    }
    if kind in bounds:
        key, zh, en = bounds[kind]
        return say(zh.format(show(ctx[key])), en.format(show(ctx[key]))) + _got(given)
    if kind == "string_too_short":
        return say("不能为空", "cannot be empty")
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return say(f"至少需要 {n} 项", f"needs at least {n} item{'s' if n != 1 else ''}")
    if kind == "string_too_long":
        n = ctx.get("max_length")
        return say(f"最多 {n} 个字符", f"at most {n} characters")
    if kind == "too_long":
        n = ctx.get("max_length")
        return say(f"最多 {n} 项", f"at most {n} items")
    if kind == "string_pattern_mismatch":
        zh, en = _PATTERNS.get(
            str(ctx.get("pattern")),
            (f"应符合 {ctx.get('pattern')}", f"must match {ctx.get('pattern')}"),
        )
        return say(f"{show(given)} 格式不对：{zh}", f"{show(given)} is not valid: {en}")
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind in ("union_tag_invalid", "union_tag_not_found") or kind.startswith("unknown_"):
        tags = _tags(tp)
        if isinstance(given, dict) and given.get("kind") is None:
            return say(
                f"缺少必填字段 kind；可选：{'、'.join(tags)}",
                f"missing required field kind; use one of {', '.join(tags)}",
            )
        tag = ctx.get("tag", given.get("kind") if isinstance(given, dict) else given)
        return one_of(tag, tags)
    # a kind of error not worded above: still the user's value, never pydantic's sentence
    return say(
        f"{show(given)} 不是有效的值（{kind}）", f"{show(given)} is not valid ({err['msg']})"
    )


def explain(model: type[BaseModel], data: Any, errors: list[ErrorDetails]) -> list[tuple[Loc, str]]:
    """Each error as (location as written, message); several union members' errors at one place
    become one message."""
    grouped: dict[Loc, list[tuple[ErrorDetails, Any, Any, str | int | None]]] = {}
    for err in errors:
        raw = tuple(p for p in err["loc"] if isinstance(p, str | int))
        kind = err["type"]
        if kind in ("extra_forbidden", "missing"):
            parent, tp, here = _walk(model, data, raw[:-1])
            field = raw[-1] if raw else None
            loc = (*parent, field) if kind == "extra_forbidden" and field is not None else parent
            grouped.setdefault(loc, []).append((err, tp, here, field))
            continue
        loc, tp, here = _walk(model, data, raw)
        is_tag = kind in ("union_tag_invalid", "union_tag_not_found") or kind.startswith("unknown_")
        if is_tag and isinstance(here, dict) and "kind" in here:
            loc = (*loc, "kind")  # our unions are told apart by `kind`: the wrong value's line
        grouped.setdefault(loc, []).append((err, tp, here, loc[-1] if loc else None))
    # a misspelt required field is one mistake: the unknown key's "did you mean" says it all
    meant = {
        (*loc[:-1], nearest(str(loc[-1]), _fields(tp)))
        for loc, group in grouped.items()
        for e, tp, _, _ in group
        if e["type"] == "extra_forbidden" and loc
    }
    out: list[tuple[Loc, str]] = []
    for loc, group in grouped.items():
        group = [g for g in group if not (g[0]["type"] == "missing" and (*loc, g[3]) in meant)]
        if len(group) > 1 and all(e["type"] in ("enum", "literal_error") for e, *_ in group):
            allowed: list[str] = []
            for e, tp, _, _ in group:
                allowed += [
                    v
                    for v in _allowed(tp) or _choices(str((e.get("ctx") or {}).get("expected", "")))
                    if v not in allowed
                ]
            out.append((loc, one_of(group[0][0].get("input"), allowed)))
            continue
        for message in dict.fromkeys(_message(e, tp, here, field) for e, tp, here, field in group):
            out.append((loc, message))
    return out
