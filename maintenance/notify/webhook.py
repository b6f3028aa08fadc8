"""A generic webhook: the outbox row as the API's webhook subscriptions receive it (same JSON,
same `Propwatch-*` headers and signature), for a chat bridge or pager that is not a robot we
know. Any 2xx is taken."""

from __future__ import annotations

import httpx

from maintenance.notify.message import Outgoing
from maintenance.notify.senders import SendFailed
from maintenance.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from propwatch.clock import Clock
from propwatch.notification_channels import WebhookChannel


class WebhookSender:
    def __init__(self, channel: WebhookChannel, secret: str | None, clock: Clock) -> None:
        self.channel, self.clock, self._secret = channel, clock, secret
        self._client = httpx.AsyncClient(timeout=channel.timeout)

    async def send(self, msg: Outgoing) -> str:
        raw = msg.body.encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            EVENT_HEADER: msg.event_type,
            DELIVERY_HEADER: f"n{msg.notification_id}",
        }
        if self._secret is not None:
            ts = int(self.clock.now().timestamp())
            headers[TIMESTAMP_HEADER] = str(ts)
            headers[SIGNATURE_HEADER] = sign(self._secret, ts, raw)
        try:
            response = await self._client.post(self.channel.url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            # The status only: a receiver's reply is not ours to keep or show in the log.
            raise SendFailed(f"HTTP {response.status_code}")
        return f"HTTP {response.status_code}"

    async def aclose(self) -> None:
        await self._client.aclose()
