"""The site box's Mosquitto config and secrets, run by the real `mosquitto` binary.

`init-secrets.sh` makes the certificates and password file; the shipped config is started with
only its container paths and ports swapped for temporary ones.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from propwatch.mqtt import MqttConnection
from propwatch.profiles import BUILTIN_DIR, MqttProfile, load_profile_file
from tests.deploy.files import DEPLOY
from tests.support.servers import free_port, port_open, require_binary, wait_until

SITE = DEPLOY / "site"


@dataclass
class SiteBroker:
    tls_port: int
    plain_port: int
    ca: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]


def _env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}


def _site_box(tmp: Path) -> Path:
    """A copy of deploy/site with its secrets made by `init-secrets.sh`."""
    require_binary("mosquitto_passwd")
    require_binary("openssl")
    box = tmp / "site"
    shutil.copytree(SITE, box)
    subprocess.run([str(box / "init-secrets.sh")], check=True, capture_output=True)
    return box


def _launch(box: Path, tls_port: int, plain_port: int) -> subprocess.Popen[bytes]:
    """The shipped config with only its container paths and ports swapped for local ones."""
    mosquitto = require_binary("mosquitto", "/usr/sbin")
    data = box / "data"
    data.mkdir(exist_ok=True)
    conf = (box / "mosquitto" / "mosquitto.conf").read_text()
    for container, local in (
        ("/mosquitto/config/passwd", box / "secrets" / "passwd"),
        ("/mosquitto/config/acl", box / "mosquitto" / "acl"),
        ("/mosquitto/certs/", f"{box / 'secrets' / 'certs'}/"),
        ("/mosquitto/data/", f"{data}/"),
    ):
        conf = conf.replace(container, str(local))
    conf = re.sub(r"^listener 8883$", f"listener {tls_port} 127.0.0.1", conf, flags=re.M)
    conf = re.sub(r"^listener 1883$", f"listener {plain_port} 127.0.0.1", conf, flags=re.M)
    # In the container the entrypoint hands the files to the mosquitto user; here we stay root.
    run_as = (
        "user root\n" if subprocess.run(["id", "-u"], capture_output=True).stdout == b"0\n" else ""
    )
    (box / "test.conf").write_text(run_as + conf)
    log = box / "mosquitto.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([mosquitto, "-c", str(box / "test.conf")], stdout=out, stderr=out)
    try:
        wait_until(lambda: port_open(tls_port) and port_open(plain_port), 10, "mosquitto")
    except TimeoutError:
        proc.kill()
        raise AssertionError(log.read_text()) from None
    return proc


@pytest.fixture(scope="module")
def site_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteBroker]:
    box = _site_box(tmp_path_factory.mktemp("site"))
    tls_port, plain_port = free_port(), free_port()
    proc = _launch(box, tls_port, plain_port)
    yield SiteBroker(tls_port, plain_port, box / "secrets/certs/ca.crt", _env(box / ".env"), proc)
    proc.terminate()
    proc.wait(10)


def _pub(broker: SiteBroker, *args: str) -> int:
    pub = require_binary("mosquitto_pub")
    cmd = [pub, "-h", "127.0.0.1", "-p", str(broker.plain_port), "-m", "{}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=10).returncode


def _client(broker: SiteBroker, user: str, password: str, name: str) -> MqttConnection:
    url = f"mqtts://localhost:{broker.tls_port}"
    return MqttConnection(url, name, username=user, password=password, ca_file=str(broker.ca))


def test_anonymous_clients_are_refused(site_broker: SiteBroker) -> None:
    assert _pub(site_broker, "-t", "devices/door-north/events") != 0


def test_maintenance_shares_alarms_published_by_the_gateway_over_tls(
    site_broker: SiteBroker,
) -> None:
    env = site_broker.env
    got: list[str] = []
    arrived = threading.Event()
    sub = _client(site_broker, "maintenance", env["MQTT_MAINTENANCE_PASSWORD"], "t-maintenance")

    def on_message(m: paho.MQTTMessage) -> None:
        got.append(m.topic)
        arrived.set()

    sub.on_message = on_message
    sub.subscribe("$share/maintenance-hexie/propwatch/hexie/alarms/#")
    gw = _client(site_broker, "gateway", env["MQTT_GATEWAY_PASSWORD"], "t-gateway")
    sub.start()
    gw.start()
    try:
        wait_until(lambda: sub.connected.is_set() and gw.connected.is_set(), 10, "TLS sessions")

        def delivered() -> bool:  # repeated until the SUBACK is surely in place
            gw.publish("propwatch/hexie/alarms/pump-1", b"{}", qos=1)
            return arrived.wait(0.1)

        wait_until(delivered, 10, "the alarm at the maintenance subscriber")
        assert got[0] == "propwatch/hexie/alarms/pump-1"
    finally:
        sub.stop()
        gw.stop()


def test_a_field_device_publishes_only_under_its_own_id(site_broker: SiteBroker) -> None:
    passwd = require_binary("mosquitto_passwd")
    env = site_broker.env
    # Add a device user the way docs/operations.md tells, then reload with SIGHUP.
    pw_file = site_broker.ca.parent.parent / "passwd"
    subprocess.run([passwd, "-b", str(pw_file), "door-north", "door-secret"], check=True)
    site_broker.proc.send_signal(signal.SIGHUP)
    got: list[str] = []
    gw = _client(site_broker, "gateway", env["MQTT_GATEWAY_PASSWORD"], "t-gateway-devices")
    gw.on_message = lambda m: got.append(m.topic)
    gw.subscribe("devices/#")
    gw.start()
    try:
        wait_until(gw.connected.is_set, 10, "gateway session")
        auth = ["-u", "door-north", "-P", "door-secret", "-q", "1"]

        def published_own() -> bool:
            _pub(site_broker, "-t", "devices/door-north/events", *auth)
            return "devices/door-north/events" in got

        wait_until(published_own, 10, "the device's own topic")
        _pub(site_broker, "-t", "devices/door-south/events", *auth)
        _pub(site_broker, "-t", "devices/door-north/events", *auth)
        wait_until(lambda: got.count("devices/door-north/events") >= 2, 10, "a later message")
        assert "devices/door-south/events" not in got
    finally:
        gw.stop()


def test_queue_limit_is_raised_above_the_silent_drop_default() -> None:
    conf = (SITE / "mosquitto" / "mosquitto.conf").read_text()
    (limit,) = re.findall(r"^max_queued_messages (\d+)$", conf, flags=re.M)
    assert int(limit) == 0 or int(limit) > 1000


def test_the_broker_saves_its_store_every_second() -> None:
    conf = (SITE / "mosquitto" / "mosquitto.conf").read_text()

    assert re.findall(r"^persistence (\w+)$", conf, flags=re.M) == ["true"]
    (interval,) = re.findall(r"^autosave_interval (\d+)$", conf, flags=re.M)
    assert int(interval) == 1
    assert not re.search(r"^autosave_on_changes true$", conf, flags=re.M) or int(interval) == 1


def test_messages_acknowledged_a_second_before_a_broker_crash_survive_it(tmp_path: Path) -> None:
    """The gateway's alarms, acknowledged by the broker and queued for an offline maintenance
    session, are still there after mosquitto is killed with SIGKILL and started again."""
    box = _site_box(tmp_path)
    env = _env(box / ".env")
    tls, plain = free_port(), free_port()
    ca = box / "secrets/certs/ca.crt"
    store = box / "data" / "mosquitto.db"
    count = 200

    def client(user: str, password: str, name: str) -> MqttConnection:
        return MqttConnection(
            f"mqtts://localhost:{tls}",
            name,
            clean_start=False,
            username=user,
            password=password,
            ca_file=str(ca),
        )

    broker = _launch(box, tls, plain)
    got: list[bytes] = []
    try:
        subscribed = threading.Event()
        maintenance = client("maintenance", env["MQTT_MAINTENANCE_PASSWORD"], "t-maint-crash")
        maintenance.client.on_subscribe = lambda *_: subscribed.set()
        maintenance.subscribe("propwatch/hexie/alarms/#")
        maintenance.start()
        assert subscribed.wait(10), "no SUBACK"
        maintenance.stop()  # offline: the broker queues for its session
        gw = client("gateway", env["MQTT_GATEWAY_PASSWORD"], "t-gateway-crash")
        gw.start()
        wait_until(gw.connected.is_set, 10, "gateway session")
        infos = [gw.publish("propwatch/hexie/alarms/pump-1", str(i), qos=1) for i in range(count)]
        wait_until(lambda: all(i.is_published() for i in infos), 20, "every PUBACK")
        acked_ns = time.time_ns()
        gw.stop()
        # A save that ends after the last PUBACK began after it (the broker is one thread):
        # with autosave_interval 1 that is at most about a second away; with 60 it is not.
        wait_until(
            lambda: store.exists() and store.stat().st_mtime_ns > acked_ns, 5, "the next save"
        )
        broker.send_signal(signal.SIGKILL)
        broker.wait(10)
        broker = _launch(box, tls, plain)
        again = client("maintenance", env["MQTT_MAINTENANCE_PASSWORD"], "t-maint-crash")
        again.on_message = lambda m: got.append(bytes(m.payload))
        again.subscribe("propwatch/hexie/alarms/#")
        again.start()
        try:
            wait_until(lambda: len(got) >= count, 20, f"{count} messages after the crash")
        finally:
            again.stop()
    finally:
        if broker.poll() is None:
            broker.terminate()
            broker.wait(10)

    assert sorted(int(p) for p in got) == list(range(count))


def _acl(user: str) -> list[tuple[str, str]]:
    """(access, topic filter) lines of one user in the shipped ACL file."""
    rules: list[tuple[str, str]] = []
    current = None
    for raw in (SITE / "mosquitto" / "acl").read_text().splitlines():
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "user":
            current = parts[1]
        elif parts[0] == "topic" and current == user:
            rules.append((parts[1], parts[2]))
    return rules


def _matches(topic_filter: str, topic: str) -> bool:
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or level not in ("+", t[i]):
            return False
    return len(f) == len(t)


def test_gateway_may_read_every_builtin_mqtt_profile_topic() -> None:
    readable = [f for access, f in _acl("gateway") if access in ("read", "readwrite")]
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        profile = load_profile_file(path)
        if isinstance(profile, MqttProfile):
            topic = profile.topic.replace("{device}", "door-north")
            assert any(_matches(f, topic) for f in readable), f"{path.name}: {topic}"


def test_commands_go_from_maintenance_to_the_gateway_and_their_results_back() -> None:
    from propwatch.commands import command_topic, result_topic

    def may(user: str, access: str, topic: str) -> bool:
        granted = [f for a, f in _acl(user) if a in (access, "readwrite")]
        return any(_matches(f, topic) for f in granted)

    assert may("maintenance", "write", command_topic("hexie"))
    assert may("gateway", "read", command_topic("hexie"))
    assert may("gateway", "write", result_topic("hexie", "lighting-b"))
    assert may("maintenance", "read", result_topic("hexie", "lighting-b"))
    assert not may("maintenance", "write", result_topic("hexie", "lighting-b"))


def test_an_offline_subscriber_gets_more_than_the_default_1000_queued_messages(
    site_broker: SiteBroker,
) -> None:
    env = site_broker.env
    count = 1500  # Mosquitto's default max_queued_messages (1000) would keep only 1000 of these

    def maintenance() -> MqttConnection:
        m = MqttConnection(
            f"mqtts://localhost:{site_broker.tls_port}",
            "t-maintenance-offline",
            clean_start=False,
            username="maintenance",
            password=env["MQTT_MAINTENANCE_PASSWORD"],
            ca_file=str(site_broker.ca),
        )
        m.subscribe("propwatch/hexie/alarms/#")
        return m

    first = maintenance()
    first.start()
    wait_until(first.connected.is_set, 10, "the first maintenance session")
    wait_until(lambda: first.client.want_write() is False, 5, "the subscription to be sent")
    first.stop()
    gw = _client(site_broker, "gateway", env["MQTT_GATEWAY_PASSWORD"], "t-gateway-burst")
    gw.start()
    wait_until(gw.connected.is_set, 10, "gateway session")
    infos = [
        gw.client.publish("propwatch/hexie/alarms/pump-1", str(i), qos=1) for i in range(count)
    ]
    wait_until(lambda: all(i.is_published() for i in infos), 20, "every publish acknowledged")
    gw.stop()
    got: list[bytes] = []
    again = maintenance()
    again.on_message = lambda m: got.append(bytes(m.payload))
    again.start()
    try:
        wait_until(lambda: len(got) >= count, 20, f"{count} queued messages")
    finally:
        again.stop()
    assert sorted(int(p) for p in got) == list(range(count))
