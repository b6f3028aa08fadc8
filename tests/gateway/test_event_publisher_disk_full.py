"""The alarm lane on a full disk: events the disk refuses wait in memory in order, reach the
broker anyway, and go to disk once there is room; the lane empties without a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.event_publisher import EventPublisher
from gateway.outbox import Outbox
from propwatch.clock import SystemClock
from tests.gateway.small_disk import small_disk
from tests.gateway.test_event_publisher import TOPIC, _Consumer, _gateway_connection, _until
from tests.support.servers import start_mosquitto


def test_alarm_events_refused_by_a_full_disk_still_reach_the_broker_in_order(
    tmp_path: Path,
) -> None:
    broker = start_mosquitto(tmp_path)

    async def run(disk_path: Path) -> tuple[list[int], int, int]:
        with small_disk(disk_path, "2m") as disk:
            consumer = _Consumer(broker)
            gateway = _gateway_connection(broker)
            for c in (consumer.conn, gateway):
                c.start()
                await c.wait_connected()
            await asyncio.sleep(0.3)  # the consumer's subscription is in place
            outbox = Outbox(disk.path / "outbox.db")
            publisher = EventPublisher(outbox, gateway, SystemClock())
            await asyncio.to_thread(broker.stop)  # the first events wait on disk
            for seq in range(20):
                publisher.submit(TOPIC, json.dumps({"seq": seq}))
            disk.fill()
            for seq in range(20, 60):
                publisher.submit(TOPIC, json.dumps({"seq": seq, "pad": "x" * 2000}))
            held = publisher.held
            task = asyncio.create_task(publisher.run())
            await asyncio.to_thread(broker.start)
            await _until(lambda: len(set(consumer.seen)) == 60, "all 60 events")
            disk.make_room()
            await _until(lambda: publisher.pending == 0, "the lane to empty", within=30)
            errors = publisher.storage_errors
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for c in (consumer.conn, gateway):
                c.stop()
            outbox.close()
            return consumer.seen, held, errors

    try:
        seen, held, errors = asyncio.run(run(tmp_path / "disk"))
    finally:
        broker.stop()

    assert held > 0 and errors > 0  # the disk did refuse them
    assert list(dict.fromkeys(seen)) == list(range(60))
