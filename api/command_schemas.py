"""Bodies and answers of the command routes (遥控)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, RootModel


class CommandValue(RootModel[bool | int | float]):
    """true/false (or 1/0) for a coil, a number in engineering units for a register."""


class ReadBackValue(RootModel[bool | int | float | str | None]):
    """What the gateway read from the read-back point after writing (null until answered)."""


class CommandIn(BaseModel):
    """A command to one writable point of the asset's device."""

    model_config = ConfigDict(extra="forbid")

    point: str = Field(min_length=1, max_length=64, description="测点 name, e.g. circuit_1_command")
    value: CommandValue
    ttl_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="有效期: the gateway never executes the command after this many seconds",
    )


class CommandOut(BaseModel):
    """A command as recorded, with its state and the gateway's result."""

    id: int
    site_id: str
    asset: str
    asset_name: str = Field(description="设备名称")
    device: str
    point: str
    point_label: str = Field(description="测点名称 (第1回路合闸命令)")
    value: CommandValue
    value_text: str = Field(description="the value as the duty room reads it (开 / 关, 2.5 A)")
    state: str = Field(description="pending, sent, done, failed, expired or refused")
    state_zh: str = Field(description="待下发, 已下发, 已执行, 执行失败, 已过期, 已拒绝")
    final: bool = Field(description="the state will not change any more")
    read_back: ReadBackValue
    reason: str = Field(description="why it failed, expired or was refused (zh-CN); empty if done")
    requested_by: str = Field(description="the token that asked (审计)")
    requested_role: str
    requested_at: datetime
    requested_at_local: str = Field(description="12月3日 22:10, in the site's time")
    expires_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    url: str = Field(description="where to GET this command's state")
