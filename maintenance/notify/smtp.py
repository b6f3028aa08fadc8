"""E-mail over SMTP (smtplib in a worker thread): plain, STARTTLS or implicit TLS, with an
optional login. Subject and body are UTF-8, so 中文 subjects arrive as RFC 2047 encoded words."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from maintenance.notify.message import Outgoing
from maintenance.notify.senders import SendFailed
from propwatch.notification_channels import EmailChannel


def build_mail(msg: Outgoing, sender: str, to: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = msg.title + "：" + msg.text.splitlines()[1][:60]
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(msg.at.timestamp(), localtime=False)
    mail["Message-ID"] = make_msgid(idstring=f"n{msg.notification_id}")
    mail.set_content(msg.text, charset="utf-8")
    return mail


def recipients(channel: EmailChannel, msg: Outgoing) -> list[str]:
    out = msg.emails + (channel.duty_room if msg.duty_room else [])
    return list(dict.fromkeys(out))


class SmtpSender:
    def __init__(self, channel: EmailChannel, password: str | None) -> None:
        self.channel, self._password = channel, password

    async def send(self, msg: Outgoing) -> str:
        to = recipients(self.channel, msg)
        if not to:
            raise SendFailed("no e-mail address for these people")
        mail = build_mail(msg, self.channel.sender, to)
        return await asyncio.to_thread(self._send, mail, to)

    def _send(self, mail: EmailMessage, to: list[str]) -> str:
        ch = self.channel
        try:
            smtp: smtplib.SMTP
            context = ssl.create_default_context(cafile=ch.ca_file)
            if ch.security == "ssl":
                smtp = smtplib.SMTP_SSL(ch.host, ch.port, timeout=ch.timeout, context=context)
            else:
                smtp = smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout)
            with smtp:
                if ch.security == "starttls":
                    smtp.starttls(context=context)
                if ch.username:
                    smtp.login(ch.username, self._password or "")
                refused = smtp.send_message(mail, to_addrs=to)
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
        accepted = len(to) - len(refused)
        return f"accepted by {accepted} of {len(to)}" + (
            f"; refused {', '.join(refused)}" if refused else ""
        )

    async def aclose(self) -> None:
        return None
