"""Local stand-ins for the 企业微信 and 钉钉 robot endpoints, real HTTP servers in a thread.

Each checks a request the way the vendor documents it and answers as the vendor does: HTTP 200
with `{"errcode": 0, "errmsg": "ok"}`, or a non-zero errcode for a wrong key, token, signature or
message. Tests can script the next answers: an HTTP 502, a rate-limit errcode, or no answer at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.http import serve_http

WECOM_PATH = "/cgi-bin/webhook/send"
DINGTALK_PATH = "/robot/send"


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Robot:
    """One robot endpoint; `check` returns (errcode, errmsg) for a request."""

    check: Callable[[Request], tuple[int, str]]
    received: list[Request] = field(default_factory=list)
    script: list[str] = field(default_factory=list)  # "http502", "ratelimit", "hang" (in order)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, req: Request) -> tuple[int, dict[str, Any] | None]:
        self.received.append(req)
        step = self.script.pop(0) if self.script else "ok"
        if step == "hang":
            self.release.wait(30)
            return 504, None
        if step == "http502":
            return 502, None
        if step == "ratelimit":
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        code, msg = self.check(req)
        return 200, {"errcode": code, "errmsg": msg}

    def accepted(self) -> list[Request]:
        return [r for r in self.received if self.check(r)[0] == 0]


def _common(req: Request) -> tuple[int, str] | None:
    if req.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return 40035, "invalid content type"
    try:
        req.json()
    except ValueError:
        return 40035, "invalid json"
    return None


def wecom_check(key: str) -> Callable[[Request], tuple[int, str]]:
    """群机器人配置说明: key in the query; text (≤ 2048 bytes, optional mentioned lists) or
    markdown (≤ 4096 bytes)."""

    def check(req: Request) -> tuple[int, str]:
        if req.path != WECOM_PATH or req.query.get("key") != [key]:
            return 93000, "invalid webhook url"
        bad = _common(req)
        if bad:
            return bad
        doc = req.json()
        kind = doc.get("msgtype")
        if kind == "text":
            text = doc.get("text", {})
            content = text.get("content")
            if not isinstance(content, str) or len(content.encode()) > 2048:
                return 40058, "content exceed max length"
            for name in ("mentioned_list", "mentioned_mobile_list"):
                if name in text and not isinstance(text[name], list):
                    return 40058, f"{name} is not a list"
        elif kind == "markdown":
            content = doc.get("markdown", {}).get("content")
            if not isinstance(content, str) or len(content.encode()) > 4096:
                return 40058, "content exceed max length"
        else:
            return 40008, "invalid message type"
        return 0, "ok"

    return check


def dingtalk_check(
    token: str, secret: str, now_ms: Callable[[], int]
) -> Callable[[Request], tuple[int, str]]:
    """自定义机器人接入: access_token, and for 加签 a millisecond timestamp within an hour and
    sign = urlEncode(base64(HmacSHA256(secret, timestamp + "\\n" + secret)))."""

    def check(req: Request) -> tuple[int, str]:
        if req.path != DINGTALK_PATH or req.query.get("access_token") != [token]:
            return 300001, "token is not exist"
        [ts] = req.query.get("timestamp", [""])
        [sign] = req.query.get("sign", [""])
        if not ts.isdigit() or abs(now_ms() - int(ts)) > 3600_000:
            return 310000, "invalid timestamp"
        mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(sign, base64.b64encode(mac).decode()):
            return 310000, "sign not match"
        bad = _common(req)
        if bad:
            return bad
        doc = req.json()
        at = doc.get("at", {})
        if "atMobiles" in at and not isinstance(at["atMobiles"], list):
            return 400, "atMobiles is not a list"
        if doc.get("msgtype") == "text":
            ok = isinstance(doc.get("text", {}).get("content"), str)
        elif doc.get("msgtype") == "markdown":
            md = doc.get("markdown", {})
            ok = isinstance(md.get("title"), str) and isinstance(md.get("text"), str)
        else:
            return 40008, "invalid message type"
        return (0, "ok") if ok else (43004, "param error")

    return check


@contextmanager
def serve_robot(robot: Robot, path: str) -> Iterator[Robot]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            req = Request(
                parts.path,
                parse_qs(parts.query),
                parts.query,
                dict(self.headers.items()),
                body,
            )
            status, doc = robot.answer(req)
            raw = json.dumps(doc).encode() if doc is not None else b""
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (a hanging robot)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_http(Handler) as port:
        robot.url = f"http://127.0.0.1:{port}{path}"
        try:
            yield robot
        finally:
            robot.release.set()  # a hanging handler must let go before the server shuts down
