"""The central reverse proxy, run by the real `nginx` in front of a real HTTP upstream.

Upstream names and ports of the compose network are swapped for loopback ones; the TLS
certificate is the one `init-secrets.sh` makes.
"""

from __future__ import annotations

import http.client
import http.server
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tests.deploy.files import DEPLOY
from tests.support.servers import free_port, port_open, require_binary, wait_until

CENTRAL = DEPLOY / "central"


class _Upstream(http.server.BaseHTTPRequestHandler):
    """Stands in for the API: one SSE event, then the second only once the client saw the first."""

    release = threading.Event()
    released_in_time = False
    seen_headers: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        _Upstream.seen_headers = dict(self.headers.items())
        if self.path == "/api/v1/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"id: 1\ndata: first\n\n")
            self.wfile.flush()
            _Upstream.released_in_time = _Upstream.release.wait(10)
            self.wfile.write(b"id: 2\ndata: second\n\n")
            return
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Proxy:
    https_port: int
    ca: Path

    def get(self, path: str) -> http.client.HTTPResponse:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection("localhost", self.https_port, context=ctx, timeout=10)
        conn.request("GET", path)
        return conn.getresponse()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    nginx = require_binary("nginx", "/usr/sbin")
    require_binary("openssl")
    box = tmp_path_factory.mktemp("central") / "central"
    shutil.copytree(CENTRAL, box)
    subprocess.run([str(box / "init-secrets.sh"), "localhost"], check=True, capture_output=True)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    up = upstream.server_address[1]
    https, plain, influx = free_port(), free_port(), free_port()
    conf = (box / "nginx" / "nginx.conf").read_text()
    # both API replicas on one test upstream (nginx refuses a server named twice only by name)
    conf = re.sub(r"server api-\d+:8000", f"server 127.0.0.1:{up}", conf)
    for name in ("grafana:3000", "influxdb:8086"):
        conf = conf.replace(f"server {name};", f"server 127.0.0.1:{up};")
    conf = conf.replace("/etc/nginx/certs/", f"{box}/secrets/certs/")
    conf = re.sub(r"^\s*listen \[::\].*$", "", conf, flags=re.M)
    conf = conf.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{plain};")
    conf = conf.replace("listen 8086 ssl", f"listen 127.0.0.1:{influx} ssl")
    (box / "test.conf").write_text(conf)
    log = box / "nginx.log"
    cmd = [nginx, "-p", str(box), "-c", str(box / "test.conf")]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "-g", f"daemon off; pid {box}/nginx.pid;"], stdout=out, stderr=out
        )
    try:
        wait_until(lambda: port_open(https), 10, "nginx")
    except TimeoutError:
        proc.kill()
        raise AssertionError(log.read_text()) from None
    yield Proxy(https, box / "secrets/certs/ca.crt")
    _Upstream.release.set()
    proc.terminate()
    proc.wait(10)
    upstream.shutdown()
    upstream.server_close()


def test_event_stream_reaches_the_client_before_the_upstream_finishes(proxy: Proxy) -> None:
    _Upstream.release.clear()
    response = proxy.get("/api/v1/stream")
    first = [response.readline() for _ in range(3)]
    # Only now may the upstream go on: with proxy buffering the first event would still be held.
    _Upstream.release.set()
    assert first == [b"id: 1\n", b"data: first\n", b"\n"]
    assert b"data: second" in response.read()
    assert _Upstream.released_in_time, "the proxy held the first event until the stream ended"


def test_api_requests_are_forwarded_with_the_original_scheme(proxy: Proxy) -> None:
    response = proxy.get("/healthz")
    assert response.status == 200 and response.read() == b'{"status": "ok"}'
    assert _Upstream.seen_headers["X-Forwarded-Proto"] == "https"
    assert response.getheader("Strict-Transport-Security")
