"""Container health check for every propwatch service (the image's HEALTHCHECK).

`api` and `demo` answer `GET /healthz`, which reports each component and answers 503 when one is
down. The gateway, when `PROPWATCH_GATEWAY_METRICS_PORT` is set, answers `GET /healthz` on that
port and is healthy while it reports `mqtt_connected`. Otherwise gateway and maintenance serve no
HTTP, and count as healthy while the process holds an established TCP connection to its MQTT
broker: both lose their usefulness the moment that session is gone, and paho reconnects on its
own, so a lasting absence means a stuck service.

The role comes from the command line of PID 1 (`propwatch gateway --site ...`), or from the
first argument: `python healthcheck.py gateway`. Exit 0 healthy, 1 unhealthy (Docker's contract).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from propwatch.mqtt import BrokerAddress
from propwatch.settings import Settings

ROLES = ("api", "demo", "gateway", "maintenance", "simulate")
TCP_ESTABLISHED = "01"


def role_of(cmdline: Iterable[str]) -> str | None:
    """The first propwatch subcommand in a command line."""
    return next((arg for arg in cmdline if arg in ROLES), None)


def pid1_role() -> str | None:
    try:
        raw = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return None
    return role_of(part.decode(errors="replace") for part in raw.split(b"\0"))


def established_remote_ports(proc_net: Path = Path("/proc/net")) -> set[int]:
    """Remote ports of established TCP connections in this network namespace."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 3 and cols[3] == TCP_ESTABLISHED:
                ports.add(int(cols[2].rsplit(":", 1)[1], 16))
    return ports


def check_http(settings: Settings, timeout: float = 4.0) -> tuple[bool, str]:
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    url = f"http://{host}:{settings.api_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200, f"{url}: {r.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code} {exc.read(500).decode(errors='replace')}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def check_gateway_health(settings: Settings, timeout: float = 4.0) -> tuple[bool, str]:
    """The gateway's own `/healthz` (metrics server): healthy while connected to the broker."""
    host = settings.gateway_metrics_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{host}:{settings.gateway_metrics_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            state = json.loads(r.read())
    except (OSError, ValueError) as exc:
        return False, f"{url}: {exc}"
    connected = isinstance(state, dict) and state.get("mqtt_connected") is True
    return connected, f"{url}: mqtt_connected={connected}"


def check_mqtt_session(settings: Settings, proc_net: Path = Path("/proc/net")) -> tuple[bool, str]:
    if not settings.mqtt_url:
        return False, "PROPWATCH_MQTT_URL is not set"
    port = BrokerAddress.parse(settings.mqtt_url).port
    if port in established_remote_ports(proc_net):
        return True, f"MQTT session to port {port} established"
    return False, f"no established connection to the MQTT broker (port {port})"


def check(role: str | None, settings: Settings, proc_net: Path = Path("/proc/net")) -> bool:
    if role in ("api", "demo"):
        ok, detail = check_http(settings)
    elif role == "gateway" and settings.gateway_metrics_port:
        ok, detail = check_gateway_health(settings)
    elif role in ("gateway", "maintenance", "simulate"):
        ok, detail = check_mqtt_session(settings, proc_net)
    else:
        ok, detail = False, f"unknown service role {role!r}; pass one of {', '.join(ROLES)}"
    print(("healthy: " if ok else "unhealthy: ") + detail)
    return ok


def main(argv: list[str]) -> int:
    role = argv[0] if argv else pid1_role()
    return 0 if check(role, Settings()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
