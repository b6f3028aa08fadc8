"""What every channel sender shares: the protocol, the failure it raises, the JSON robots' reply
check, and building the senders a site file asks for from the secrets at hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from maintenance.notify.message import Outgoing
from propwatch.clock import Clock
from propwatch.notification_channels import (
    Channel,
    DingtalkChannel,
    EmailChannel,
    WebhookChannel,
    WecomChannel,
)


class SendFailed(Exception):
    """The channel did not take the message; the text says what the far side answered."""


class Sender(Protocol):
    async def send(self, msg: Outgoing) -> str:
        """Deliver one message; returns what the far side answered, raises `SendFailed`."""
        ...

    async def aclose(self) -> None: ...


async def post_json(client: httpx.AsyncClient, url: str, doc: dict[str, Any], **kw: Any) -> Any:
    """POST UTF-8 JSON and return the decoded reply; a transport error or a non-2xx is a
    `SendFailed` (the key in the URL is never part of the message)."""
    body = json.dumps(doc, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        response = await client.post(url, content=body, headers=headers, **kw)
    except httpx.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}".split("?")[0]) from exc
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError as exc:
        raise SendFailed(f"HTTP {response.status_code}: not JSON: {response.text[:300]}") from exc


def check_errcode(reply: Any) -> str:
    """企业微信 and 钉钉 answer HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; anything else in
    `errcode` (a bad key, a bad signature, 45009 rate limit) is a failure."""
    if not isinstance(reply, dict) or "errcode" not in reply:
        raise SendFailed(f"unexpected reply: {str(reply)[:300]}")
    if reply["errcode"] != 0:
        raise SendFailed(f"errcode {reply['errcode']}: {reply.get('errmsg', '')}")
    return f"errcode 0: {reply.get('errmsg', '')}"


@dataclass(frozen=True)
class ChannelSetup:
    channel: Channel
    sender: Sender


def build_senders(
    channels: list[Channel], secrets: Mapping[str, str], clock: Clock
) -> tuple[dict[str, ChannelSetup], dict[str, str]]:
    """Senders for the enabled channels whose secrets are all given; the rest with the reason
    they are off (a channel waiting for its secret is off, not failing)."""
    from maintenance.notify.dingtalk import DingtalkSender
    from maintenance.notify.smtp import SmtpSender
    from maintenance.notify.webhook import WebhookSender
    from maintenance.notify.wecom import WecomSender

    ready: dict[str, ChannelSetup] = {}
    off: dict[str, str] = {}
    for ch in channels:
        if not ch.enabled:
            off[ch.id] = "disabled in the site file"
            continue
        missing = [name for name in ch.secret_names().values() if name not in secrets]
        if missing:
            off[ch.id] = f"secret {missing[0]!r} is not in PROPWATCH_NOTIFY_SECRETS"
            continue
        sender: Sender
        if isinstance(ch, WecomChannel):
            sender = WecomSender(ch, secrets[ch.key_secret])
        elif isinstance(ch, DingtalkChannel):
            sign = secrets[ch.sign_secret] if ch.sign_secret else None
            sender = DingtalkSender(ch, secrets[ch.access_token_secret], sign, clock)
        elif isinstance(ch, EmailChannel):
            password = secrets[ch.password_secret] if ch.password_secret else None
            sender = SmtpSender(ch, password)
        else:
            assert isinstance(ch, WebhookChannel)
            sender = WebhookSender(ch, secrets[ch.secret] if ch.secret else None, clock)
        ready[ch.id] = ChannelSetup(ch, sender)
    return ready, off
