"""钉钉自定义机器人: `POST <url>?access_token=…&timestamp=…&sign=…` with `{"msgtype": "text",
"text": {"content": …}, "at": {"atMobiles": […], "isAtAll": false}}` or `{"msgtype":
"markdown", "markdown": {"title": …, "text": …}, "at": …}`; the reply is `{"errcode": 0}`.

加签: `sign = urlencode(base64(HMAC_SHA256(secret, f"{timestamp}\\n{secret}")))` with the
timestamp in milliseconds, which must be within an hour of DingTalk's clock. In Markdown a person
is only @-mentioned when `@<mobile>` also appears in the text."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from maintenance.notify.message import Outgoing
from maintenance.notify.senders import check_errcode, post_json
from propwatch.clock import Clock
from propwatch.notification_channels import DingtalkChannel


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` parameter before URL encoding (the HTTP client encodes it once)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_payload(msg: Outgoing, msgtype: str) -> dict[str, Any]:
    mentions = " ".join(f"@{m}" for m in msg.mobiles)
    at = {"atMobiles": msg.mobiles, "isAtAll": False}
    if msgtype == "markdown":
        text = msg.markdown + (f"\n\n{mentions}" if mentions else "")
        return {"msgtype": "markdown", "markdown": {"title": msg.title, "text": text}, "at": at}
    return {"msgtype": "text", "text": {"content": msg.text}, "at": at}


class DingtalkSender:
    def __init__(
        self, channel: DingtalkChannel, access_token: str, sign_secret: str | None, clock: Clock
    ) -> None:
        self.channel, self.clock = channel, clock
        self._token, self._sign_secret = access_token, sign_secret
        self._client = httpx.AsyncClient(timeout=channel.timeout)

    def params(self) -> dict[str, str]:
        params = {"access_token": self._token}
        if self._sign_secret is not None:
            ts = int(self.clock.now().timestamp() * 1000)
            params["timestamp"] = str(ts)
            params["sign"] = dingtalk_sign(self._sign_secret, ts)
        return params

    async def send(self, msg: Outgoing) -> str:
        reply = await post_json(
            self._client,
            self.channel.url,
            dingtalk_payload(msg, self.channel.msgtype),
            params=self.params(),
        )
        return check_errcode(reply)

    async def aclose(self) -> None:
        await self._client.aclose()
