"""启动失败: what keeps a command from starting, said in one line that names what and where.

An engineer starting a site's services on a new machine meets these first: a port someone else
holds, a broker or database that does not answer, a var dir the service user may not write. Each
is turned into a `StartFailed` whose message is the whole story (no traceback: `--verbose` adds
it), and the command exits 2. A database URL is shown as host:port only, never its password.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from propwatch.messages import say


class StartFailed(Exception):
    """A command cannot start; the message is one line for the person starting it."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return say("端口已被占用", "address already in use")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return say("权限不足", "permission denied")
    if exc.errno == errno.EADDRNOTAVAIL:
        return say("本机没有这个地址", "no such address on this machine")
    return exc.strerror or str(exc)


def check_ports_free(what: str, host: str, ports: Iterable[int]) -> None:
    """Bind each port the way the server will, before anything starts: a taken one is named
    with what wanted it, instead of a library's traceback that names no port."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise StartFailed(
                    say(
                        f"{what} 无法监听 {host}:{port}: {_reason(exc)}"
                        " (换一个端口, 或先停止占用它的进程)",
                        f"{what} cannot listen on {host}:{port}: {_reason(exc)}"
                        " (choose another port or stop the process holding it)",
                    )
                ) from exc


def bind_listener(what: str, host: str, port: int) -> socket.socket:
    """A listening socket for a server we hand it to, so a taken port fails here, named.

    Made with IPPROTO_TCP, as asyncio makes its own: asyncio turns Nagle off (TCP_NODELAY) only
    on connections whose socket says it is TCP, and without that a keep-alive request whose
    answer goes out in two writes waits ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartFailed(
            say(
                f"{what} 无法监听 {host}:{port}: {_reason(exc)}",
                f"{what} cannot listen on {host}:{port}: {_reason(exc)}",
            )
        ) from exc
    sock.set_inheritable(True)
    return sock


def check_var_dir(var_dir: Path) -> None:
    """The var dir exists (or can be made) and this user may write in it."""
    try:
        var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = var_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise StartFailed(
            say(
                f"状态目录 {var_dir} 不可写: {_reason(exc)}"
                " (PROPWATCH_VAR_DIR; 让运行服务的用户拥有它, 或换一个目录)",
                f"var dir {var_dir} is not writable: {_reason(exc)}"
                " (PROPWATCH_VAR_DIR; give it to the service's user or choose another)",
            )
        ) from exc


def database_where(url: str) -> str:
    """host:port (or the SQLite file) of a database URL, never the user or password."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return say("(无法解析的数据库地址)", "(unparsable database URL)")
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    port = parsed.port or {"postgresql": 5432, "mysql": 3306}.get(parsed.get_backend_name())
    return f"{parsed.host or 'localhost'}:{port or '?'}/{parsed.database or ''}"


def database_unreachable(url: str, exc: BaseException) -> StartFailed:
    """The database by host:port and the driver's first line, any password masked."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    # the driver's text may quote the URL back; keep only its first line, with no password
    password = _password(url)
    if password:
        first = first.replace(password, "***")
    return StartFailed(
        say(
            f"数据库 {database_where(url)} 无法连接 (PROPWATCH_DATABASE_URL): {first}",
            f"database {database_where(url)} unreachable (PROPWATCH_DATABASE_URL): {first}",
        )
    )


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def broker_unreachable(url: str, exc: BaseException) -> StartFailed:
    """The broker as host:port (a URL's user and password left out)."""
    from propwatch.mqtt import BrokerAddress

    try:
        address = BrokerAddress.parse(url)
    except ValueError as bad:
        return StartFailed(
            say(f"MQTT 地址无效 (PROPWATCH_MQTT_URL): {bad}", f"bad PROPWATCH_MQTT_URL: {bad}")
        )
    where = f"{address.host}:{address.port}"
    return StartFailed(
        say(
            f"MQTT 代理 {where} 无法连接 (PROPWATCH_MQTT_URL); 请确认代理已启动、地址和端口正确",
            f"MQTT broker {where} unreachable (PROPWATCH_MQTT_URL); check it runs at that address",
        )
    )
