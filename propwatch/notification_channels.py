"""通知渠道与路由: the site file's `notifications` section.

Channels say how people are reached (企业微信 and 钉钉 group robots, e-mail, a plain webhook);
routes say which outbox topics go to which channels, for which zones, priorities and roles.
Secrets (a robot's key or access token, a signing secret, an SMTP password) never live in the
site file: a channel names them, and their values come from `PROPWATCH_NOTIFY_SECRETS`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from propwatch.config_errors import did_you_mean, unknown_reference
from propwatch.durations import Seconds
from propwatch.messages import say

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

TOPICS = (
    "work_order.created",
    "work_order.transition",
    "work_order.reassigned",
    "work_order.escalated",
    "work_order.overdue",
    "work_order.unsatisfied",
    "work_order.changed",
    "work_order.commented",
    "work_order.attachment_added",
    "work_order.attachment_deleted",
    "alarm.raised",
    "alarm.cleared",
    "alarm.acknowledged",
    "alarm.chattering",
    "asset.warranty_expiring",
    "statutory.due_soon",
    "statutory.overdue",
    "contract.expiring",
    "contractor.licence_expiring",
    "rectification.issued",
    "rectification.changed",
    "rectification.escalated",
)
"""Every topic the maintenance core writes to its outbox."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(StrEnum):
    """Who a route tells; each resolves to people of the site file at the time of the event."""

    RECIPIENT = "recipient"  # the person the event names (new assignee, escalation target, …)
    ASSIGNEE = "assignee"  # the work order's technician
    SUPERVISOR = "supervisor"  # the zone's supervisor (片区主管)
    DUTY_TECHNICIAN = "duty_technician"  # the technician on duty (值班) at that moment
    DUTY_ROOM = "duty_room"  # the duty room (值班室) itself: the group, or its mailbox


class _Channel(_M):
    id: str = Field(pattern=ID)
    enabled: bool = True
    timeout: Seconds = Field(default=10.0, gt=0, le=120)
    concurrency: int = Field(
        default=1, ge=1, le=16, description="sends at once; 1 keeps a group's messages in order"
    )

    def secret_names(self) -> dict[str, str]:
        """Field name to the secret it names, for every secret this channel needs."""
        return {}


class WecomChannel(_Channel):
    """企业微信群机器人: POST to `url?key=<key>`; the reply's `errcode` must be 0."""

    kind: Literal["wecom"]
    url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    key_secret: str = Field(description="name of the secret holding the robot's key")
    msgtype: Literal["text", "markdown"] = Field(
        default="text", description="text can @-mention people by mobile; markdown cannot"
    )

    def secret_names(self) -> dict[str, str]:
        return {"key_secret": self.key_secret}


class DingtalkChannel(_Channel):
    """钉钉自定义机器人: POST to `url?access_token=…`, signed (加签) when `sign_secret` is set."""

    kind: Literal["dingtalk"]
    url: str = "https://oapi.dingtalk.com/robot/send"
    access_token_secret: str
    sign_secret: str | None = Field(default=None, description="the robot's SEC… secret (加签)")
    msgtype: Literal["text", "markdown"] = "markdown"

    def secret_names(self) -> dict[str, str]:
        names = {"access_token_secret": self.access_token_secret}
        if self.sign_secret is not None:
            names["sign_secret"] = self.sign_secret
        return names


class EmailChannel(_Channel):
    """E-mail over SMTP to people's `email`, and to `duty_room` addresses for the duty room."""

    kind: Literal["email"]
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password_secret: str | None = None
    ca_file: str | None = Field(
        default=None, description="CA certificate of a private mail server (default: system's)"
    )
    sender: str = Field(description="the From address")
    duty_room: list[str] = Field(default_factory=list, description="the duty room's mailboxes")

    @field_validator("sender")
    @classmethod
    def _address(cls, v: str) -> str:
        if "@" not in v:
            raise ValueError(say(f"{v} 不是电子邮件地址", f"{v} is not an e-mail address"))
        return v

    def secret_names(self) -> dict[str, str]:
        return {"password_secret": self.password_secret} if self.password_secret else {}


class WebhookChannel(_Channel):
    """A plain JSON POST of the outbox row (the webhook body), signed when `secret` is set."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(default=None, description="name of the signing secret")

    def secret_names(self) -> dict[str, str]:
        return {"secret": self.secret} if self.secret else {}


def _channel_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", ""))
    return str(getattr(value, "kind", ""))


Channel = Annotated[
    Annotated[WecomChannel, Tag("wecom")]
    | Annotated[DingtalkChannel, Tag("dingtalk")]
    | Annotated[EmailChannel, Tag("email")]
    | Annotated[WebhookChannel, Tag("webhook")],
    Discriminator(
        _channel_kind,
        custom_error_type="unknown_channel_kind",
        custom_error_message="unknown channel kind; use wecom, dingtalk, email or webhook",
    ),
]


class NotificationRoute(_M):
    """One rule: these topics, in these zones and priorities, to these people, on these channels.

    Empty `zones` or `priorities` match all; an event without a zone (the duty room's own) only
    matches routes without zones.
    """

    topics: list[str] = Field(min_length=1)
    zones: list[str] = Field(default_factory=list)
    priorities: list[Literal["emergency", "important", "general"]] = Field(default_factory=list)
    to: list[Audience] = Field(min_length=1)
    channels: list[str] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t != "*" and t not in TOPICS]
        if unknown:
            raise ValueError(
                say(
                    f"未知的主题 {unknown[0]}；可写 * 或 {'、'.join(TOPICS)}",
                    f"unknown topic {unknown[0]}; use * or one of {', '.join(TOPICS)}",
                )
                + did_you_mean(unknown[0], TOPICS)
            )
        return v


class Notifications(_M):
    channels: list[Channel] = Field(default_factory=list)
    routes: list[NotificationRoute] = Field(default_factory=list)


def notification_problems(
    spec: Notifications, zones: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references inside the section: unique channel ids, known channels and zones."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    ids: set[str] = set()
    for i, ch in enumerate(spec.channels):
        if ch.id in ids:
            out.append(
                (
                    ("notifications", "channels", i, "id"),
                    say(f"id {ch.id} 重复", f"id {ch.id} is used twice"),
                )
            )
        ids.add(ch.id)
    for i, route in enumerate(spec.routes):
        for j, cid in enumerate(route.channels):
            if cid not in ids:
                loc: tuple[str | int, ...] = ("notifications", "routes", i, "channels", j)
                out.append((loc, unknown_reference("通知渠道", "channel", cid, ids)))
        for j, zid in enumerate(route.zones):
            if zid not in zones:
                out.append(
                    (
                        ("notifications", "routes", i, "zones", j),
                        unknown_reference("片区", "zone", zid, zones),
                    )
                )
    return out
