"""Notification fixtures: the example site with a `notifications` section, a dispatcher on the
test database and clock, and a real SMTP server (aiosmtpd) on a free loopback port."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select

from maintenance.db import Database
from maintenance.notify.dispatcher import NotificationDispatcher
from maintenance.notify.models import NotificationAttempt, NotificationDelivery
from propwatch.clock import ManualClock
from propwatch.notification_channels import Notifications
from propwatch.site import Site
from tests.support.servers import free_port, require_binary

EMAILS = {
    "wang-gong": "wang@hexie.example",
    "li-shifu": "li@hexie.example",
    "zhou-zg": "zhou@hexie.example",
}


def with_notifications(site: Site, section: dict[str, Any]) -> Site:
    """The site with this `notifications` section and e-mail addresses for its staff."""
    people = [p.model_copy(update={"email": EMAILS.get(p.id, "")}) for p in site.spec.people]
    spec = site.spec.model_copy(
        update={"notifications": Notifications.model_validate(section), "people": people}
    )
    return Site(site.path, spec, site.profiles)


def dispatcher(
    site: Site, db: Database, clock: ManualClock, secrets: Mapping[str, str] | None = None
) -> NotificationDispatcher:
    d = NotificationDispatcher(site, db, clock, secrets or {}, interval=0.02)
    d.start_cursor()
    return d


def one_pass(d: NotificationDispatcher) -> int:
    return asyncio.run(d.run_once())


def deliveries(db: Database) -> list[NotificationDelivery]:
    with db.session() as s:
        return list(s.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def attempts(db: Database, delivery_id: int) -> list[NotificationAttempt]:
    with db.session() as s:
        return list(
            s.scalars(
                select(NotificationAttempt)
                .where(NotificationAttempt.delivery_id == delivery_id)
                .order_by(NotificationAttempt.id)
            )
        )


@dataclass
class Mailbox:
    """What a real SMTP server received: envelopes as sent, and logins it accepted."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class _Login:
    def __init__(self, box: Mailbox, user: str, password: str) -> None:
        self.box, self.user, self.password = box, user, password

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.user
            and data.password.decode() == self.password
        ):
            self.box.logins.append(self.user)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


SMTP_USER, SMTP_PASSWORD = "notify@hexie.example", "s3cret-pw"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=_Login(box, SMTP_USER, SMTP_PASSWORD),
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def mail_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1: (ca.crt, server.crt, server.key)."""
    openssl = require_binary("openssl")
    d = tmp_path_factory.mktemp("mail-tls")
    ca = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"]
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout",
         "ca.key", "-out", "ca.crt", "-subj", "/CN=propwatch mail test CA", cwd=d)  # fmt: skip
    _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _run(openssl, "x509", "-req", "-in", "server.csr", *ca, "-out", "server.crt",
         "-days", "1", "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d / "ca.crt", d / "server.crt", d / "server.key"


@pytest.fixture(params=["starttls", "ssl"])
def smtp_tls_server(
    request: pytest.FixtureRequest, mail_tls: tuple[Path, Path, Path]
) -> Iterator[tuple[Mailbox, str]]:
    """The SMTP server behind STARTTLS (login only after it) or implicit TLS."""
    _, cert, key = mail_tls
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(port=free_port())
    tls: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True}
        if request.param == "starttls"
        # implicit TLS: aiosmtpd only counts STARTTLS as TLS for AUTH, the socket is TLS anyway
        else {"ssl_context": context, "auth_require_tls": False}
    )
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=_Login(box, SMTP_USER, SMTP_PASSWORD),
        **tls,
    )
    controller.start()
    try:
        yield box, request.param
    finally:
        controller.stop()
