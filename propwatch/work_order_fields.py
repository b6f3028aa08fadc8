"""工单标签与自定义字段: the site file's `work_orders` section.

A ticket system and the duty room classify orders with **tags** (标签) and carry facts of their
own in **custom fields** (自定义字段: the caller's phone, the floor, the channel the report came
by). Both are declared per site, so a typo in an integration is refused by name instead of
stored as a new tag or a field nobody reads:

```yaml
work_orders:
  tags: [漏水, 噪音, 业主投诉]
  custom_fields:
    - {id: floor, name: 楼层, type: integer}
    - {id: channel, name: 报修渠道, type: choice, choices: [电话, 微信, 前台]}
```
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from propwatch.messages import say

ID = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"
"""A custom field's id: no dot, since `custom_fields.<id>` names it in a refusal."""
MAX_TAGS = 20
"""Tags on one order; a list longer than this is classification gone wrong."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"  # ISO 8601 calendar date, e.g. 2026-11-23
    CHOICE = "choice"  # one of `choices`


class CustomField(_M):
    """One field a work order of this site may carry (all are optional)."""

    id: str = Field(pattern=ID, max_length=64)
    name: str = Field(min_length=1, max_length=64, description="shown to the duty room")
    type: FieldType = FieldType.TEXT
    choices: list[str] = Field(default_factory=list, description="the values of a choice")
    max_length: int = Field(default=200, ge=1, le=2000, description="of a text value")

    @model_validator(mode="after")
    def _choices_for_choice(self) -> CustomField:
        if self.type is FieldType.CHOICE and not self.choices:
            raise ValueError(
                say("choice 字段需要 choices（可选值）", "a choice field needs choices")
            )
        if self.type is not FieldType.CHOICE and self.choices:
            raise ValueError(
                say(
                    f"choices 只用于 type: choice，不能用于 {self.type.value}",
                    f"choices are only for type choice, not {self.type.value}",
                )
            )
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(
                say("choices 中有重复的值", "choices must be different from each other")
            )
        return self

    def check(self, value: Any) -> Any:
        """The value as stored, or ValueError saying what this field takes (English)."""
        t = self.type
        if t is FieldType.TEXT:
            if not isinstance(value, str) or _CONTROL.search(value.replace("\n", "")):
                raise ValueError("takes text")
            if len(value) > self.max_length:
                raise ValueError(f"takes at most {self.max_length} characters")
            return value
        if t is FieldType.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**53:
                raise ValueError("takes an integer")
            return value
        if t is FieldType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("takes a number")
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("takes a finite number")
            return value
        if t is FieldType.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError("takes true or false")
            return value
        if t is FieldType.DATE:
            try:
                parsed = date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                parsed = None
            if parsed is None or len(value) != 10 or not 1970 <= parsed.year <= 2200:
                raise ValueError("takes a date YYYY-MM-DD between 1970 and 2200")
            return value
        if value not in self.choices:
            raise ValueError(f"takes one of {', '.join(self.choices)}")
        return value


PHOTO_CATEGORIES = (
    "elevator",
    "water_supply",
    "lighting",
    "access_control",
    "fire",
    "general",
    "complaint",
)
"""The work-order categories (`propwatch.site.Category`, which imports this module)."""


class PhotoRequired(_M):
    """照片留证: the orders whose 完成 on the technician page needs a photo of the work."""

    categories: list[str] = Field(
        default_factory=list, description="orders of these categories (fire, elevator, …)"
    )
    plans: list[str] = Field(
        default_factory=list, description="occurrences of these plans (their ids)"
    )

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in PHOTO_CATEGORIES:
                raise ValueError(
                    say(
                        f"类别 {name!r} 不存在，可选：{'、'.join(PHOTO_CATEGORIES)}",
                        f"no category {name!r}; one of {', '.join(PHOTO_CATEGORIES)}",
                    )
                )
        return v


class WorkOrderFields(_M):
    """What a work order of this site may be tagged with and carry beyond the built-in fields."""

    tags: list[str] = Field(default_factory=list, description="the tags an order may carry")
    custom_fields: list[CustomField] = Field(default_factory=list)
    photo_required: PhotoRequired = PhotoRequired()

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not tag.strip() or tag != tag.strip() or len(tag) > 32 or _CONTROL.search(tag):
                raise ValueError(
                    say(
                        f"标签 {tag!r}：须为 1–32 个字符，首尾不能有空格",
                        f"tag {tag!r}: 1–32 characters, no surrounding spaces",
                    )
                )
        if len(set(v)) != len(v):
            raise ValueError(say("有标签写了两次", "a tag is listed twice"))
        return v

    @field_validator("custom_fields")
    @classmethod
    def _unique_ids(cls, v: list[CustomField]) -> list[CustomField]:
        ids = [f.id for f in v]
        twice = next((i for i in ids if ids.count(i) > 1), None)
        if twice is not None:
            raise ValueError(
                say(f"自定义字段 id {twice} 重复", f"custom field id {twice} is used twice")
            )
        return v

    def field(self, field_id: str) -> CustomField | None:
        return next((f for f in self.custom_fields if f.id == field_id), None)
