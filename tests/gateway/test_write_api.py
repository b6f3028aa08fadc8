"""The InfluxDB v2 write API client: what it sends (a real HTTP server reads it back), what a
status makes of the batch, and kept-alive connections across a victoria-metrics restart."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from gateway.sinks import SinkRejected, SinkUnavailable
from gateway.sinks.influx import InfluxSink
from gateway.sinks.write_api import WriteApi
from tests.support.servers import free_port, start_victoria_metrics

TOKEN = "s3cret-write-token"


class Store(http.server.BaseHTTPRequestHandler):
    """Answers each write with the next (status, body) of `answers`, keeping what it got."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the stores do
    answers: ClassVar[list[tuple[int, bytes]]] = []
    got: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        type(self).got.append((self.path, dict(self.headers), body))
        status, answer = type(self).answers.pop(0) if type(self).answers else (204, b"")
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def store() -> Iterator[tuple[str, type[Store]]]:
    handler = type("Handler", (Store,), {"answers": [], "got": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prefix", handler
    server.shutdown()
    server.server_close()


def test_a_write_sends_the_gzipped_lines_with_the_token_to_the_bucket(
    store: tuple[str, type[Store]],
) -> None:
    url, handler = store
    sink = InfluxSink(url, TOKEN, "org one", "propwatch")
    sink.write_lines(["m,site=s v=1 1", "m,site=s v=2 2"])
    sink.write_lines("m,site=s v=3 3")
    path, headers, body = handler.got[0]
    assert path == "/prefix/api/v2/write?org=org+one&bucket=propwatch&precision=ns"
    assert headers["Authorization"] == f"Token {TOKEN}"
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"m,site=s v=1 1\nm,site=s v=2 2"
    assert gzip.decompress(handler.got[1][2]) == b"m,site=s v=3 3"
    sink.client.close()


def test_a_status_decides_whether_the_batch_is_kept_for_a_retry(
    store: tuple[str, type[Store]],
) -> None:
    url, handler = store
    api = WriteApi(url, TOKEN, "o", "b", timeout=5, gzip=False)
    handler.answers += [
        (400, b'{"code":"invalid","message":"unable to parse line 1"}'),
        (422, b"x" * 5000),
        (401, b"unauthorized"),
        (404, b"bucket not found"),
        (429, b""),
        (503, b""),
        (204, b""),
    ]
    with pytest.raises(SinkRejected, match=r"400 .*unable to parse line 1"):
        api.write(b"bad")
    with pytest.raises(SinkRejected) as long:
        api.write(b"bad")
    assert len(str(long.value)) < 600  # the store's explanation, clipped
    for status in (401, 404, 429, 503):
        with pytest.raises(SinkUnavailable, match=str(status)) as error:
            api.write(b"m v=1 1")
        assert TOKEN not in str(error.value)
    api.write(b"m v=1 1")
    assert len(handler.got) == 7
    api.close()


def test_a_store_that_does_not_listen_or_answer_is_unavailable_within_the_timeout() -> None:
    api = WriteApi(f"http://127.0.0.1:{free_port()}", TOKEN, "o", "b", timeout=0.5, gzip=True)
    with pytest.raises(SinkUnavailable, match="ConnectionRefusedError"):
        api.write(b"m v=1 1")
    silent = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    # accepts the connection and never reads or answers
    silent_url = f"http://127.0.0.1:{silent.server_address[1]}"
    api = WriteApi(silent_url, TOKEN, "o", "b", timeout=0.5, gzip=True)
    started = time.monotonic()
    with pytest.raises(SinkUnavailable, match="timed out") as error:
        api.write(b"m v=1 1")
    assert time.monotonic() - started < 5
    assert TOKEN not in str(error.value)
    silent.server_close()


def test_kept_alive_connections_survive_a_victoria_metrics_restart(tmp_path: Path) -> None:
    vm = start_victoria_metrics(tmp_path)
    try:
        sink = InfluxSink(vm.url, TOKEN, "o", "b")
        sink.write_lines(
            [f"restart,site=s,asset=a v={i} {(i + 1) * 1_000_000_000}" for i in range(5)]
        )
        vm.stop()  # the connection kept for the next write is closed by the store
        vm.start()
        sink.write_lines(
            [f"restart,site=s,asset=a v={i} {(i + 1) * 1_000_000_000}" for i in range(5, 10)]
        )
        vm.flush()
        (series,) = vm.export('{__name__="restart_v"}')
        assert series["values"] == list(range(10))
        sink.client.close()
    finally:
        vm.stop()
