"""企业微信群机器人: `POST <url>?key=<key>` with `{"msgtype": "text", "text": {"content": …,
"mentioned_mobile_list": […]}}` or `{"msgtype": "markdown", "markdown": {"content": …}}`; the
reply is `{"errcode": 0, "errmsg": "ok"}`. Text may be 2048 bytes, Markdown 4096, and a robot
takes 20 messages a minute (errcode 45009 past that, retried like any failure). Markdown cannot
@-mention by mobile, so the default is text, which rings the technician's phone."""

from __future__ import annotations

from typing import Any

import httpx

from maintenance.notify.message import Outgoing
from maintenance.notify.senders import check_errcode, post_json
from propwatch.notification_channels import WecomChannel

TEXT_LIMIT = 2048
MARKDOWN_LIMIT = 4096


def clip(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


def wecom_payload(msg: Outgoing, msgtype: str) -> dict[str, Any]:
    if msgtype == "markdown":
        return {"msgtype": "markdown", "markdown": {"content": clip(msg.markdown, MARKDOWN_LIMIT)}}
    text: dict[str, Any] = {"content": clip(msg.text, TEXT_LIMIT)}
    if msg.mobiles:
        text["mentioned_mobile_list"] = msg.mobiles
    return {"msgtype": "text", "text": text}


class WecomSender:
    def __init__(self, channel: WecomChannel, key: str) -> None:
        self.channel, self._key = channel, key
        self._client = httpx.AsyncClient(timeout=channel.timeout)

    async def send(self, msg: Outgoing) -> str:
        reply = await post_json(
            self._client,
            self.channel.url,
            wecom_payload(msg, self.channel.msgtype),
            params={"key": self._key},
        )
        return check_errcode(reply)

    async def aclose(self) -> None:
        await self._client.aclose()
