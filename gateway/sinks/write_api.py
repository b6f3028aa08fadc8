"""The InfluxDB v2 write API (`POST /api/v2/write`) over kept-alive `http.client` connections.

influxdb-client's generated API layer costs about 0.3 ms of CPU a request before and after the
HTTP itself (its sanitising, header and configuration walk, urllib3's pool), against about
0.1 ms here: small batches (an MQTT receive window of messages) pay it on every write. The
body is sent as it is given; the status decides what the writer does with the batch.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlencode, urlsplit

from gateway.sinks import SinkRejected, SinkUnavailable

REJECTED_STATUS = frozenset({400, 413, 422})
"""The batch itself is wrong: sending it again cannot help. Anything else (401/403 from a rotated
token, 404 for a bucket not yet created, 429, 5xx, timeouts) is worth keeping and retrying."""
_REASON_MAX = 500
"""Characters of a refusal's body kept in the error (the store's own explanation)."""
_STALE = (ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)
"""What a kept-alive connection the store has closed meanwhile raises before any answer."""


class WriteApi:
    """Writes to one bucket; thread-safe (each write takes an idle connection or opens one)."""

    def __init__(
        self, url: str, token: str, org: str, bucket: str, timeout: float, gzip: bool
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.timeout = timeout
        query = urlencode({"org": org, "bucket": bucket, "precision": "ns"})
        self.path = f"{parts.path.rstrip('/')}/api/v2/write?{query}"
        self.headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "text/plain; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": "propwatch-gateway",
        }
        if gzip:
            self.headers["Content-Encoding"] = "gzip"
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (True: kept alive, may have been closed by the store) or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new(), False

    def _new(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _fresh(self) -> http.client.HTTPConnection:
        """A new connection, the idle ones closed: idle as long as one the store has closed,
        they most likely are closed too."""
        self.close()
        return self._new()

    def write(self, body: bytes) -> None:
        """Send one body; raise `SinkRejected` (do not send it again) or `SinkUnavailable`."""
        conn, reused = self._connection()
        try:
            try:
                status, reason, text, keep = self._post(conn, body)
            except _STALE:
                if not reused:
                    raise
                conn.close()  # closed by the store while idle: once more on a new connection
                conn = self._fresh()
                status, reason, text, keep = self._post(conn, body)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SinkUnavailable(f"InfluxDB write failed: {type(exc).__name__}: {exc}") from exc
        if keep:
            with self._lock:
                self._idle.append(conn)
        else:
            conn.close()
        if 200 <= status < 300:
            return
        if status in REJECTED_STATUS:
            raise SinkRejected(f"InfluxDB rejected the batch: {status} {text}")
        raise SinkUnavailable(f"InfluxDB write failed: {status} {reason}")

    def _post(self, conn: http.client.HTTPConnection, body: bytes) -> tuple[int, str, str, bool]:
        conn.request("POST", self.path, body=body, headers=self.headers)
        response = conn.getresponse()
        data = response.read()  # all of it, or the connection cannot carry the next request
        text = ""
        if response.status >= 300:
            text = data[:_REASON_MAX].decode("utf-8", "replace")
        return response.status, response.reason, text, not response.will_close

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
