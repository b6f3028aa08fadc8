"""MQTT ingestion: bad payloads become dead letters, and QoS 1 acks wait until data is safe."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.dead_letters import DeadLetters
from gateway.mqtt_ingest import MqttIngest
from gateway.readings import Sample, split_storable
from propwatch.clock import SystemClock
from propwatch.mqtt import MqttConnection
from propwatch.profiles import MqttProfile
from propwatch.site import Site
from tests.support.servers import Mosquitto, start_mosquitto

TOPIC = "devices/door-north/events"


def _ingest(
    site: Site,
    dead: DeadLetters,
    into: list[Sample],
    connection: MqttConnection | None = None,
    when_safe: Callable[[Callable[[], None]], None] | None = None,
) -> MqttIngest:
    device = next(d for d in site.spec.devices if d.id == "door-north")
    profile = site.profiles[device.profile]
    assert isinstance(profile, MqttProfile)
    return MqttIngest(
        site.id,
        [(device, "door-north", profile)],
        connection or MqttConnection("mqtt://127.0.0.1:1", "unused"),
        SystemClock(),
        dead,
        into.append,
        when_safe=when_safe,
        max_payload_bytes=4096,
    )


_FUZZ_DIR = tempfile.TemporaryDirectory()
_FUZZ_DEAD_LETTERS = DeadLetters(Path(_FUZZ_DIR.name) / "dead.db")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
door_docs = st.fixed_dictionaries(
    {},
    optional={
        "door": st.dictionaries(st.sampled_from(["open", "forced", "held_open"]), json_values),
        "tamper": json_values,
        "counters": st.dictionaries(st.sampled_from(["granted", "denied"]), json_values),
        "ts": st.one_of(json_values, st.just("2026-03-01T08:00:00+08:00")),
    },
)
payloads = st.one_of(
    st.binary(max_size=300),
    door_docs.map(lambda d: json.dumps(d, allow_nan=True).encode()),
    door_docs.map(lambda d: json.dumps(d).encode()[: max(1, len(json.dumps(d)) // 2)]),
    st.binary(min_size=4097, max_size=6000),
)


@settings(
    max_examples=250,
    deadline=None,
    # The site is read-only here; one load serves every example.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(payload=payloads)
def test_fuzzed_payloads_never_crash_and_every_bad_one_is_dead_lettered(
    example_site: Site, payload: bytes
) -> None:
    dead = _FUZZ_DEAD_LETTERS
    before = dead.count
    samples: list[Sample] = []
    ingest = _ingest(example_site, dead, samples)

    ingest.handle(TOPIC, payload)

    # A sample, a dead letter, or both: a sample of the storable values and a letter naming
    # the values the store could not keep.
    letters = dead.count - before
    assert len(samples) + letters in (1, 2) and len(samples) <= 1 and letters <= 1
    if samples:
        assert samples[0].values, "a sample always carries at least one value"
        assert split_storable(samples[0])[1] is None, "only storable values go on"
    if letters:
        (_, topic, reason, kept) = dead.recent(1)[0]
        assert topic == TOPIC and reason
        assert kept == payload[:4096]
        assert not samples or reason.startswith("values refused: ")


def test_truncated_payload_is_kept_with_topic_reason_and_bytes(
    example_site: Site, tmp_path: Path
) -> None:
    dead = DeadLetters(tmp_path / "dead.db")
    payload = b'{"door": {"open": tr'

    _ingest(example_site, dead, []).handle(TOPIC, payload)

    received_at, topic, reason, kept = dead.recent(1)[0]
    assert (topic, kept) == (TOPIC, payload)
    assert reason.startswith("not JSON") and received_at


def test_oversized_payload_is_dead_lettered_with_its_size(
    example_site: Site, tmp_path: Path
) -> None:
    dead = DeadLetters(tmp_path / "dead.db")

    _ingest(example_site, dead, []).handle(TOPIC, b"x" * 5000)

    assert "5000 bytes exceeds 4096" in dead.recent(1)[0][2]


def test_good_payload_becomes_a_sample_with_the_device_time(
    example_site: Site, tmp_path: Path
) -> None:
    samples: list[Sample] = []
    payload = {"door": {"open": True}, "counters": {"granted": 7}, "ts": "2026-03-01T08:00:00Z"}

    _ingest(example_site, DeadLetters(tmp_path / "d.db"), samples).handle(
        TOPIC, json.dumps(payload).encode()
    )

    assert samples[0].values == {"door_open": True, "swipes_granted": 7}
    assert samples[0].at.isoformat() == "2026-03-01T08:00:00+00:00"


def _wait(check: Callable[[], bool], what: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.02)


def _gateway_life(
    site: Site, broker: Mosquitto, tmp: Path, hold: bool, payloads: list[bytes], expect: int
) -> tuple[list[Sample], list[bytes]]:
    """One ingestion life on a persistent session: publish `payloads`, take `expect` messages
    (samples or dead letters), acknowledge them or hold the acks back, disconnect."""
    samples: list[Sample] = []
    held: list[Callable[[], None]] = []
    dead = DeadLetters(tmp / f"dead-{time.monotonic_ns()}.db")

    def when_safe(ack: Callable[[], None]) -> None:
        if hold:
            held.append(ack)  # the store never confirmed: as if the gateway died first
        else:
            ack()

    async def run() -> None:
        conn = MqttConnection(
            broker.url, "propwatch-gateway-acktest", clean_start=False, manual_ack=True
        )
        ingest = _ingest(site, dead, samples, conn, when_safe)
        ingest.start()
        conn.start()
        await conn.wait_connected()
        await asyncio.sleep(0.3)  # let the broker confirm the subscription first
        pub = MqttConnection(broker.url, "acktest-device")
        pub.start()
        await pub.wait_connected()
        for payload in payloads:
            await asyncio.to_thread(pub.publish(TOPIC, payload, qos=1).wait_for_publish, 5)
        pub.stop()
        await asyncio.to_thread(
            _wait, lambda: len(samples) + dead.count >= expect, f"{expect} messages"
        )
        await asyncio.sleep(0.2)  # room for an unexpected redelivery to show up
        conn.stop()

    asyncio.run(run())
    return samples, [kept for _, _, _, kept in dead.recent()]


def test_unacknowledged_message_is_redelivered_to_the_next_gateway_life(
    example_site: Site, tmp_path: Path
) -> None:
    broker = start_mosquitto(tmp_path)
    payload = json.dumps({"door": {"open": True}}).encode()
    try:
        first, _ = _gateway_life(example_site, broker, tmp_path, True, [payload], expect=1)
        again, _ = _gateway_life(example_site, broker, tmp_path, False, [], expect=1)
    finally:
        broker.stop()

    assert [s.values for s in first] == [s.values for s in again] == [{"door_open": True}]


def test_bad_payloads_through_the_broker_are_dead_lettered_and_acknowledged(
    example_site: Site, tmp_path: Path
) -> None:
    broker = start_mosquitto(tmp_path)
    bad = [b'{"door": {"open": tr', b"\xff\xfe", b'{"door": {"open": "maybe"}}']
    marker = json.dumps({"tamper": True}).encode()
    try:
        _, dead = _gateway_life(example_site, broker, tmp_path, False, [*bad, marker], expect=4)
        later, dead_later = _gateway_life(example_site, broker, tmp_path, False, [marker], 1)
    finally:
        broker.stop()

    assert sorted(dead) == sorted(bad)
    assert dead_later == [] and [s.values for s in later] == [{"tamper": True}]


def test_ingestion_reconnects_and_resubscribes_after_a_broker_restart(
    example_site: Site, tmp_path: Path
) -> None:
    broker = start_mosquitto(tmp_path)
    samples: list[Sample] = []

    async def publish(value: bool) -> None:
        pub = MqttConnection(broker.url, f"acktest-device-{value}")
        pub.start()
        await pub.wait_connected()
        body = json.dumps({"tamper": value}).encode()
        await asyncio.to_thread(pub.publish(TOPIC, body, qos=1).wait_for_publish, 5)
        pub.stop()

    async def run() -> int:
        conn = MqttConnection(broker.url, "propwatch-gateway-restart", manual_ack=True)
        ingest = _ingest(example_site, DeadLetters(tmp_path / "d.db"), samples, conn)
        ingest.start()
        conn.start()
        await conn.wait_connected()
        await asyncio.sleep(0.3)
        await publish(True)
        await asyncio.to_thread(_wait, lambda: len(samples) == 1, "the first message")
        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(_wait, lambda: conn.connect_count == 2, "the reconnect")
        await asyncio.sleep(0.3)
        await publish(False)
        await asyncio.to_thread(_wait, lambda: len(samples) == 2, "the message after restart")
        conn.stop()
        return conn.connect_count

    try:
        connects = asyncio.run(run())
    finally:
        broker.stop()

    assert connects == 2
    assert [s.values for s in samples] == [{"tamper": True}, {"tamper": False}]
