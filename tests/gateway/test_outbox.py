"""The durable outbox: order, restart survival, the byte bound and the priority lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.outbox import Outbox, decode_samples, encode_samples
from gateway.readings import Quality, Sample

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _batch(first: int, n: int = 10) -> list[Sample]:
    return [
        Sample("hexie", "pump-1", "pump-1", "water_pump", T0 + timedelta(seconds=i), {"seq": i})
        for i in range(first, first + n)
    ]


def test_samples_round_trip_with_types_microseconds_and_quality() -> None:
    sample = Sample(
        "hexie",
        "pump-1",
        "pump-1",
        "water_pump",
        T0 + timedelta(microseconds=123_457),
        {"pressure": 0.1 + 0.2, "running": True, "faults": 3, "mode": "自动"},
        {"pressure": "MPa"},
        Quality.STALE,
    )

    (back,) = decode_samples(encode_samples([sample]))

    assert back == sample
    assert type(back.values["faults"]) is int and type(back.values["running"]) is bool


def test_batches_come_back_oldest_first_after_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for first in (0, 10, 20):
        outbox.append_batch(_batch(first))
    outbox.close()

    reopened = Outbox(tmp_path / "outbox.db")
    seen = []
    while (batch := reopened.oldest_batch()) is not None:
        seen += [s.values["seq"] for s in batch.samples]
        reopened.remove_batch(batch.id)

    assert seen == list(range(30))
    assert reopened.stats().pending_points == 0


def test_pending_counts_are_recovered_from_disk(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append_batch(_batch(0, 7))
    outbox.append_batch(_batch(7, 5))
    outbox.close()

    stats = Outbox(tmp_path / "outbox.db").stats()

    assert (stats.pending_batches, stats.pending_points) == (2, 12)


def test_telemetry_past_the_bound_drops_the_oldest_batches_and_counts_them(
    tmp_path: Path,
) -> None:
    one_batch = len(encode_samples(_batch(40)))  # the largest: two-digit sequence numbers
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=3 * one_batch)

    for first in range(0, 50, 10):
        outbox.append_batch(_batch(first))

    stats = outbox.stats()
    assert (stats.dropped_batches, stats.dropped_points) == (2, 20)
    oldest = outbox.oldest_batch()
    assert oldest is not None and oldest.samples[0].values["seq"] == 20
    assert stats.pending_bytes <= 3 * one_batch


def test_dropped_counters_survive_a_restart(tmp_path: Path) -> None:
    one_batch = len(encode_samples(_batch(0)))
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=one_batch)
    outbox.append_batch(_batch(0))
    outbox.append_batch(_batch(10))
    outbox.close()

    assert Outbox(tmp_path / "outbox.db").stats().dropped_points == 10


def test_telemetry_overflow_never_pushes_out_priority_events(tmp_path: Path) -> None:
    one_batch = len(encode_samples(_batch(0)))
    outbox = Outbox(tmp_path / "outbox.db", max_bytes=one_batch)
    outbox.append_event("propwatch/hexie/alarms/pump-1", b'{"action":"raise"}')

    for first in range(0, 100, 10):
        outbox.append_batch(_batch(first))

    events = outbox.oldest_events()
    assert [e.payload for e in events] == [b'{"action":"raise"}']
    assert outbox.stats().dropped_batches == 9


def test_priority_events_leave_only_when_removed_and_keep_their_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for i in range(5):
        outbox.append_event(f"t/{i}", str(i).encode(), retain=i == 4)

    first_two = outbox.oldest_events(limit=2)
    outbox.remove_events([e.id for e in first_two])
    outbox.close()
    rest = Outbox(tmp_path / "outbox.db").oldest_events()

    assert [e.topic for e in first_two] == ["t/0", "t/1"]
    assert [e.topic for e in rest] == ["t/2", "t/3", "t/4"]
    assert [e.retain for e in rest] == [False, False, True]


def test_a_newer_state_replaces_the_unsent_state_of_its_asset_but_alarms_all_stay(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    state, alarm = "propwatch/hexie/state/pump-1", "propwatch/hexie/alarms/pump-1"
    for minute in range(60):  # an hour of broker outage
        outbox.append_event(state, f'{{"minute":{minute}}}'.encode(), retain=True)
        if minute in (10, 20):
            outbox.append_event(alarm, f'{{"minute":{minute}}}'.encode())
    outbox.append_event("propwatch/hexie/state/pump-2", b"{}", retain=True)
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db")

    events = reopened.oldest_events()
    assert [(e.topic, e.payload) for e in events] == [
        (alarm, b'{"minute":10}'),
        (alarm, b'{"minute":20}'),
        (state, b'{"minute":59}'),
        ("propwatch/hexie/state/pump-2", b"{}"),
    ]
    assert reopened.stats().priority_pending == 4
    assert reopened.stats().superseded_states == 59


def test_a_state_replaced_while_its_window_is_in_flight_is_not_removed_twice(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.append_event("s/pump-1", b"old", retain=True)
    in_flight = outbox.oldest_events()
    outbox.append_event("s/pump-1", b"new", retain=True)

    outbox.remove_events([e.id for e in in_flight])

    assert [e.payload for e in outbox.oldest_events()] == [b"new"]
    assert outbox.stats().priority_pending == 1
