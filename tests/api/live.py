"""A real uvicorn server for the app, and a real HTTP receiver for webhooks, both in threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import uvicorn
from fastapi import FastAPI

from api.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.support.http import serve_http
from tests.support.servers import free_port, wait_until


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Receiver:
    """Checks each delivery's signature the way docs/api.md tells integrators to."""

    secret: str
    now: int
    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        ok = verify(
            self.secret,
            headers.get(TIMESTAMP_HEADER, ""),
            headers.get(SIGNATURE_HEADER, ""),
            body,
            self.now,
        )
        self.received.append((headers, body, ok))
        if not ok:
            return 401
        return 503 if len(self.received) <= self.fail_first else 204


@contextmanager
def receiver(r: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = r.handle(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_http(Handler) as port:
        r.url = f"http://127.0.0.1:{port}/hook"
        yield r
