"""E-mail to a real SMTP server (aiosmtpd): zh-CN subject and body, login, recipients by role."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.site import Site
from tests.maintenance.helpers import order
from tests.maintenance.notify.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    attempts,
    deliveries,
    dispatcher,
    one_pass,
    with_notifications,
)


def _site(site: Site, port: int, **extra: Any) -> Site:
    channel = {
        "id": "mail",
        "kind": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "物业工程部 <notify@hexie.example>",
        "duty_room": ["duty@hexie.example"],
        **extra,
    }
    return with_notifications(
        site,
        {
            "channels": [channel],
            "routes": [
                {
                    "topics": ["work_order.created"],
                    "to": ["assignee", "supervisor", "duty_room"],
                    "channels": ["mail"],
                }
            ],
        },
    )


def _received(box: Mailbox) -> tuple[Any, EmailMessage]:
    [envelope] = box.envelopes
    raw = envelope.original_content or envelope.content
    assert isinstance(raw, bytes)
    mail = message_from_bytes(raw, policy=default)
    assert isinstance(mail, EmailMessage)
    return envelope, mail


def test_chinese_mail_reaches_assignee_supervisor_and_duty_room(
    db: Database, site: Site, clock: ManualClock, smtp_server: Mailbox
) -> None:
    d = dispatcher(_site(site, smtp_server.port), db, clock)
    with db.session() as s:
        code = order(s, site, clock.now(), asset="pump-1").code
    assert one_pass(d) == 1
    envelope, mail = _received(smtp_server)
    assert envelope.rcpt_tos == ["wang@hexie.example", "zhou@hexie.example", "duty@hexie.example"]
    raw_headers = (envelope.original_content or b"").split(b"\r\n\r\n")[0]
    assert b"=?utf-8?" in raw_headers.lower()  # RFC 2047, not raw 8-bit
    assert mail["Subject"].startswith(f"【新工单】和谐花园：新工单 {code}")
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    body = mail.get_content()
    assert "水泵异响" in body and "片区：A区" in body
    [delivery] = deliveries(db)
    [attempt] = attempts(db, delivery.id)
    assert attempt.ok and attempt.detail == "accepted by 3 of 3"


def test_login_with_the_password_from_the_secrets(
    db: Database, site: Site, clock: ManualClock, smtp_server: Mailbox
) -> None:
    configured = _site(site, smtp_server.port, username=SMTP_USER, password_secret="smtp-pw")
    d = dispatcher(configured, db, clock, {"smtp-pw": SMTP_PASSWORD})
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 1
    assert smtp_server.logins == [SMTP_USER]


def test_a_wrong_password_is_a_failed_attempt(
    db: Database, site: Site, clock: ManualClock, smtp_server: Mailbox
) -> None:
    configured = _site(site, smtp_server.port, username=SMTP_USER, password_secret="smtp-pw")
    d = dispatcher(configured, db, clock, {"smtp-pw": "wrong"})
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 0
    assert smtp_server.envelopes == []
    [delivery] = deliveries(db)
    assert delivery.state == "pending"
    assert delivery.last_error is not None and "SMTPAuthenticationError" in delivery.last_error


def test_starttls_refused_by_the_server_is_reported(
    db: Database, site: Site, clock: ManualClock, smtp_server: Mailbox
) -> None:
    d = dispatcher(_site(site, smtp_server.port, security="starttls"), db, clock)
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 0
    assert smtp_server.envelopes == []
    [delivery] = deliveries(db)
    assert delivery.last_error is not None and "STARTTLS" in delivery.last_error


def test_login_over_tls_to_a_server_with_a_private_ca(
    db: Database,
    site: Site,
    clock: ManualClock,
    smtp_tls_server: tuple[Mailbox, str],
    mail_tls: tuple[Path, Path, Path],
) -> None:
    box, security = smtp_tls_server
    configured = _site(
        site,
        box.port,
        security=security,
        ca_file=str(mail_tls[0]),
        username=SMTP_USER,
        password_secret="smtp-pw",
    )
    d = dispatcher(configured, db, clock, {"smtp-pw": SMTP_PASSWORD})
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 1
    assert box.logins == [SMTP_USER]
    _, mail = _received(box)
    assert mail["Subject"].startswith("【新工单】和谐花园")


def test_a_server_certificate_from_an_unknown_ca_is_refused(
    db: Database, site: Site, clock: ManualClock, smtp_tls_server: tuple[Mailbox, str]
) -> None:
    box, security = smtp_tls_server
    d = dispatcher(_site(site, box.port, security=security), db, clock)
    with db.session() as s:
        order(s, site, clock.now(), asset="pump-1")
    assert one_pass(d) == 0
    assert box.envelopes == []
    [delivery] = deliveries(db)
    assert "CERTIFICATE_VERIFY_FAILED" in (delivery.last_error or "")
