"""标签与自定义字段 on a work order, checked against the site file's `work_orders` section.

An unknown tag or field is refused by name rather than stored: an integration's typo would
otherwise become a tag nobody filters on, or a field nobody reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from maintenance.work_orders.errors import InvalidCustomField, UnknownCustomField, UnknownTag
from propwatch.work_order_fields import MAX_TAGS, WorkOrderFields


def checked_tags(declared: WorkOrderFields, tags: Iterable[str]) -> list[str]:
    """The tags in the order given, each once; every one must be declared by the site."""
    out = list(dict.fromkeys(tags))
    for i, tag in enumerate(out):
        if tag not in declared.tags:
            known = "、".join(declared.tags) or "无"
            en = f"unknown tag {tag!r}; the site declares: {', '.join(declared.tags) or 'none'}"
            raise UnknownTag({f"tags.{i}": (f"标签「{tag}」未在本小区声明（可用：{known}）", en)})
    if len(out) > MAX_TAGS:
        raise InvalidCustomField({"tags": (f"标签最多 {MAX_TAGS} 个", f"at most {MAX_TAGS} tags")})
    return out


def merged_custom_fields(
    declared: WorkOrderFields, current: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """`current` with `changes` applied (JSON merge patch: null removes a field)."""
    out = dict(current)
    for key, value in changes.items():
        spec = declared.field(key)
        if spec is None:
            known = ", ".join(f.id for f in declared.custom_fields) or "none"
            raise UnknownCustomField(
                {
                    f"custom_fields.{key}": (
                        f"自定义字段「{key}」未在本小区声明",
                        f"unknown custom field {key!r}; the site declares: {known}",
                    )
                }
            )
        if value is None:
            out.pop(key, None)
            continue
        try:
            out[key] = spec.check(value)
        except ValueError as exc:
            raise InvalidCustomField(
                {
                    f"custom_fields.{key}": (
                        f"自定义字段「{spec.name}」的值无效",
                        f"custom field {key!r} {exc}",
                    )
                }
            ) from exc
    return out


def needs_photo(declared: WorkOrderFields, category: str, details: Mapping[str, Any]) -> bool:
    """照片留证: whether the site wants a photo before an order of this category (or an
    occurrence of this plan) is completed on the technician page."""
    rule = declared.photo_required
    return category in rule.categories or details.get("plan_id") in rule.plans
