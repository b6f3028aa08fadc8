"""投递目标: where a webhook may be posted, checked when subscribed and again at each delivery.

A subscription names a URL; the duty room or a ticket system could otherwise point it at the
API's own host, the cloud metadata service (169.254.169.254) or a machine of the private network,
and read the answers back through the delivery log (SSRF). So every address the host resolves to
must be a public one: loopback, link-local, private, unique-local, carrier-grade NAT, multicast,
unspecified and reserved addresses are refused, and so is an IPv6 address that carries one of
them (IPv4-mapped, 6to4, NAT64). The check runs again before each delivery, since DNS may answer
differently later (DNS rebinding), and the delivery connects to the very address it checked.

An internal receiver is allowed by naming its host in `PROPWATCH_WEBHOOK_ALLOW_HOSTS` (the host
exactly as written in the URL: a name, or an IP literal): the operator's decision, never the
subscriber's.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_KIND_ZH = {
    "unspecified": "未指定地址",
    "loopback": "本机回环地址",
    "link-local": "链路本地地址",
    "multicast": "组播地址",
    "unique-local": "内网地址",
    "reserved": "保留地址",
    "shared": "运营商内网地址",
    "private": "内网地址",
    "not global": "非公网地址",
}


class TargetRefused(Exception):
    """A webhook URL that may not be posted to; `reason` is short and safe to store and show."""

    def __init__(self, reason: str, zh: str) -> None:
        super().__init__(reason)
        self.reason, self.zh = reason, zh


def resolve_host(host: str, port: int) -> list[str]:
    """Every address of `host` (A and AAAA), as the system resolver answers now."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_kind(addr: Address) -> str | None:
    """Why an address is not a public one (`loopback`, `private`, …), or None when it is."""
    if isinstance(addr, ipaddress.IPv6Address):
        # an IPv4 address carried inside (mapped, 6to4, NAT64, Teredo) is where it really goes
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is None and addr.teredo is not None:
            embedded = addr.teredo[1]
        if embedded is not None:
            return address_kind(embedded)
    checks = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("unique-local", isinstance(addr, ipaddress.IPv6Address) and addr in _UNIQUE_LOCAL),
        ("reserved", addr.is_reserved),
        ("shared", isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT),
        ("private", addr.is_private),
        ("not global", not addr.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to; the request names the host itself (Host
    header, TLS server name), so certificates are verified against the name, not the address."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def pinned_url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def _normal(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True)
class WebhookTargets:
    """The policy: public addresses only, plus the internal hosts the operator named."""

    allow_hosts: frozenset[str] = frozenset()
    resolve: Resolver = field(default=resolve_host, compare=False)

    @classmethod
    def allowing(cls, hosts: Iterable[str], resolve: Resolver = resolve_host) -> WebhookTargets:
        return cls(frozenset(_normal(h) for h in hosts if h.strip()), resolve)

    def check(self, url: str) -> Target:
        """The target of `url`, resolved now; raises `TargetRefused`. Blocks on DNS: call it
        from a worker thread."""
        try:
            parts = urlsplit(url)
            parts.hostname  # noqa: B018  (raises on a broken IPv6 literal)
        except ValueError:
            raise TargetRefused("invalid URL", "地址格式无效") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise TargetRefused("scheme not allowed", "只支持 http 和 https 地址")
        if parts.username is not None or parts.password is not None:
            raise TargetRefused("credentials in URL", "地址中不能带用户名或密码, 请用签名验证来源")
        try:
            given_port = parts.port
        except ValueError:
            given_port = 0
        port = (443 if scheme == "https" else 80) if given_port is None else given_port
        if not 0 < port < 65536:
            raise TargetRefused("invalid port", "端口无效")
        host = _normal(parts.hostname or "")
        if not host:
            raise TargetRefused("no host", "地址缺少主机名")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                found = self.resolve(host, port)
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
            except (OSError, UnicodeError, ValueError):
                raise TargetRefused("DNS lookup failed", f"无法解析主机名 {host}") from None
        if not addresses:
            raise TargetRefused("DNS lookup failed", f"无法解析主机名 {host}")
        if host not in self.allow_hosts:
            for addr in addresses:
                kind = address_kind(addr)
                if kind is not None:
                    where = f"{addr}" if host == str(addr) else f"{host} 解析到 {addr}, "
                    raise TargetRefused(
                        f"refused target: {kind} address {addr}",
                        f"{where}是{_KIND_ZH[kind]}, 不允许投递; 内部接收方须由运维列入 "
                        "PROPWATCH_WEBHOOK_ALLOW_HOSTS",
                    )
        return Target(url, scheme, host, port, str(addresses[0]), path)
