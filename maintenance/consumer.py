"""Consume gateway events from MQTT and apply them in order, one transaction each.

At least once on the wire, exactly once in effect: a QoS 1 message is acknowledged (paho manual
ack) only after what it carried is committed, or kept as a dead letter (死信) when it is
malformed or its applying raised. A consumer killed at any moment leaves what it had not
acknowledged in its persistent session; the broker delivers it again, and the event id in
`processed_event` makes the second apply a no-op. A database that is away is waited for, the
message held unacknowledged.

What the consumer holds is bounded (`capacity`). The broker's in-flight window (Mosquitto
`max_inflight_messages`, EMQX `max_inflight`) normally keeps it well below; past it (a broker with
no window), a message is left unacknowledged, and so is every later one of that connection so
that order is kept, until the consumer has worked through what it holds and renews the
connection: the broker then delivers the rest again. paho's network thread never waits on the
consumer, so keepalives go on while the database is slow.

One consumer serves every site of the replica: it subscribes to every site's topics
(`propwatch/+/alarms/#`, or one site's with `scope`) and applies each event against its own
site's file. An event for a site the service does not serve (its file not added yet, or removed),
or whose payload names another site than its topic (a gateway may only speak for its own site),
is kept as a rejected dead letter with the reason, counted, and acknowledged: it never stalls the
others. Events are applied one at a time in arrival order, so the order per asset is the
broker's (per topic); a gateway's answer to a command (遥控) goes ahead of the events waiting,
since someone in the duty room waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import paho.mqtt.client as paho
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from maintenance.alarms.reconcile import apply_asset_state
from maintenance.alarms.service import LATE_AFTER, apply_alarm_event
from maintenance.commands.service import apply_result
from maintenance.db import Database
from maintenance.dead_letters import DeadLetterKind, keep_dead_letter
from propwatch.clock import Clock
from propwatch.commands import RESULT_STREAM, CommandResult
from propwatch.events import TOPIC_ROOT, AlarmEvent, AssetStateEvent, parse_event
from propwatch.mqtt import MqttConnection
from propwatch.site import Site

log = logging.getLogger(__name__)

CAPACITY = 1000
"""Messages held at most (queued and being applied): a few MB of payloads."""

STOP_GRACE = 10.0
"""Seconds a stop waits for the message being applied to commit and be acknowledged."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the broker handed it over, on the connection it came on."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int


def database_away(exc: BaseException) -> bool:
    """The database cannot answer now (restart, lock or pool timeout): wait, do not give up."""
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def topic_site(topic: str) -> str:
    """The site a topic speaks for: `propwatch/<site>/alarms/...`."""
    parts = topic.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == TOPIC_ROOT else ""


class EventConsumer:
    """Subscribes to alarms and asset state of every site served (persistent session, QoS 1).

    With `shared_group`, replicas subscribe through `$share/<group>/...`: the broker gives each
    event to one replica of the group, and the idempotent writes settle any redelivery.
    """

    def __init__(
        self,
        sites: Callable[[], Mapping[str, Site]],
        db: Database,
        connection: MqttConnection,
        clock: Clock,
        *,
        scope: str | None = None,
        shared_group: str | None = None,
        late_after: timedelta = LATE_AFTER,
        capacity: int = CAPACITY,
    ) -> None:
        self.sites = sites  # the sites served now: a snapshot, replaced when sites change
        self.scope = scope  # the one site subscribed to, or None for every site
        self.late_after = late_after
        self.shared_group = shared_group
        self.db = db
        self.connection = connection
        self.clock = clock
        self.capacity = capacity
        # (lane, arrival, delivery): a command's result (lane 0) goes before the alarms and asset
        # snapshots waiting (lane 1), which keep their arrival order; a duty room waits on it
        self.queue: asyncio.PriorityQueue[tuple[int, int, Delivery]] = asyncio.PriorityQueue()
        self._arrivals = 0
        self.applied = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.db_retries = 0
        self.dead_letters = 0  # rejected or failed messages kept in the database
        self.unknown_site = 0  # events of a site not served (among `rejected`)
        self.acknowledged = 0
        self.left_for_redelivery = 0  # done, but their connection had ended: the broker resends
        self.refused = 0  # not taken, the consumer being full; the broker holds them
        self.dropped_qos0 = 0  # QoS 0 messages that found the consumer full (no redelivery)
        self.session_renewals = 0
        # Neither applied nor kept (keeping the dead letter failed too): unacknowledged, the
        # broker delivers them again on the next connection; the last ones are here to see.
        self.unsettled = 0
        self.unsettled_events: deque[Delivery] = deque(maxlen=100)
        self._lock = threading.Lock()  # `_held` and `_refusing`, shared with paho's thread
        self._held = 0
        self._refusing: int | None = None  # the connection whose later messages are refused
        self._renewed: int | None = None  # the last connection dropped to have them resent
        self._stopping = False
        self._waiting_for_db = False
        self._current: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def held(self) -> int:
        """Messages taken and not yet done: queued, and the one being applied."""
        return self._held

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.connection.on_message = self._from_paho_thread
        self.connection.subscribe(self.topic_filter("alarms"), qos=1)
        self.connection.subscribe(self.topic_filter("state"), qos=1)
        # 遥控: the gateways' answers to commands (`propwatch/<site>/command-results/<asset>`)
        self.connection.subscribe(self.topic_filter(RESULT_STREAM), qos=1)

    def topic_filter(self, stream: str) -> str:
        topic = f"{TOPIC_ROOT}/{self.scope or '+'}/{stream}/#"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic

    def _from_paho_thread(self, msg: paho.MQTTMessage) -> None:
        """In paho's network thread: take the message or leave it to the broker; never wait."""
        assert self._loop is not None
        connection = self.connection.connection_number
        with self._lock:
            full = self._held >= self.capacity
            if msg.qos > 0 and (full or self._refusing == connection):
                self._refusing = connection
                self.refused += 1
                return
            if full:
                self.dropped_qos0 += 1
                return
            self._held += 1
            self._arrivals += 1
            arrival = self._arrivals
        delivery = Delivery(msg.topic, bytes(msg.payload), msg.mid, msg.qos, connection)
        lane = 0 if msg.topic.split("/")[2:3] == [RESULT_STREAM] else 1
        self._loop.call_soon_threadsafe(self.queue.put_nowait, (lane, arrival, delivery))

    async def run(self) -> None:
        while not self._stopping:
            if self._must_renew():
                await self._renew_session()
                continue
            _, _, delivery = await self.queue.get()
            if self._stopping:
                self._done()
                return
            self._current = asyncio.create_task(self._settle(delivery))
            # A cancelled run (shutdown) does not cancel the apply under way: `stop` decides.
            await asyncio.shield(self._current)

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Take nothing more; let the message being applied commit and be acknowledged (within
        `grace` seconds). Everything else stays unacknowledged for the broker to deliver again:
        nothing is dropped, nothing acknowledged that is not committed."""
        self._stopping = True
        current = self._current
        if current is None or current.done():
            return
        if not self._waiting_for_db:
            await asyncio.wait({current}, timeout=grace)
        if not current.done():
            # A thread already applying may still commit; its redelivery is then a no-op.
            current.cancel()
            await asyncio.gather(current, return_exceptions=True)

    def _must_renew(self) -> bool:
        """Everything taken is done, and the broker still holds messages refused on the current
        connection as in flight: it sends them again only on a new connection."""
        with self._lock:
            refusing = self._refusing
            if refusing is None or self._held > 0 or refusing == self._renewed:
                return False
            return refusing == self.connection.connection_number

    async def _renew_session(self) -> None:
        self.session_renewals += 1
        self._renewed = self._refusing
        log.warning(
            "event consumer was full (%d held, %d refused so far); reconnecting for the rest",
            self.capacity,
            self.refused,
        )
        # The redeliveries arrive on the new connection, into the queue `run` waits on.
        await asyncio.to_thread(self.connection.renew_session)

    def _done(self) -> None:
        with self._lock:
            self._held -= 1

    async def _settle(self, delivery: Delivery) -> None:
        """Apply or keep one message, then acknowledge it; a database away is waited for."""
        try:
            delay = 0.5
            while True:
                try:
                    await asyncio.to_thread(self._apply_or_keep, delivery)
                    break
                except Exception as exc:
                    if not database_away(exc):
                        # Keeping the dead letter failed too: counted, kept in memory, and left
                        # unacknowledged so that the broker delivers it again.
                        self.unsettled += 1
                        self.unsettled_events.append(delivery)
                        log.exception("event on %s neither applied nor kept", delivery.topic)
                        return
                    if self._stopping:
                        return  # unacknowledged: the next process gets it again
                    self.db_retries += 1
                    log.warning(
                        "database unavailable; retrying event on %s in %.1fs", delivery.topic, delay
                    )
                    self._waiting_for_db = True
                    try:
                        await self.clock.sleep(delay)
                    finally:
                        self._waiting_for_db = False
                    delay = min(delay * 2, 30.0)
            self._acknowledge(delivery)
        finally:
            self._done()

    def _acknowledge(self, delivery: Delivery) -> None:
        if delivery.qos == 0:
            return
        if self.connection.ack(delivery.mid, delivery.qos, delivery.connection):
            self.acknowledged += 1
        else:
            self.left_for_redelivery += 1

    def _apply_or_keep(self, delivery: Delivery) -> None:
        """In a worker thread. Raises only when the database is away or nothing could be kept."""
        try:
            self.handle(delivery.topic, delivery.payload)
        except Exception as exc:
            if database_away(exc):
                raise
            # A bug must not stop consumption nor lose the event: keep it to fix and replay.
            log.exception("event on %s could not be applied; kept as a dead letter", delivery.topic)
            self._keep(delivery.topic, delivery.payload, DeadLetterKind.FAILED, repr(exc))
            self.failed += 1

    def handle(self, topic: str, payload: bytes) -> None:
        """Apply one message; a rejected one is kept as a dead letter before this returns."""
        try:
            refused = self._apply(topic, payload)
        except IntegrityError:
            # Another replica committed the same alarm episode or event first; applying again
            # now takes the duplicate / repeated-raise path against its committed rows.
            refused = self._apply(topic, payload)
        if refused is not None:
            self.rejected += 1
            self._keep(topic, payload, DeadLetterKind.REJECTED, refused)

    def _keep(self, topic: str, payload: bytes, kind: DeadLetterKind, reason: str) -> None:
        try:
            with self.db.session() as s:
                kept = keep_dead_letter(
                    s,
                    site_id=topic_site(topic)[:64],
                    topic=topic,
                    payload=payload,
                    kind=kind,
                    reason=reason,
                    now=self.clock.now(),
                )
        except IntegrityError:
            kept = False  # a replica kept the same message first
        self.dead_letters += kept

    def _apply(self, topic: str, payload: bytes) -> str | None:
        """Apply one message to its site; the reason when it is refused instead."""
        if topic.split("/")[2:3] == [RESULT_STREAM]:
            return self._apply_result(topic, payload)
        try:
            event = parse_event(payload)
        except ValidationError as exc:
            log.warning("rejected event on %s: %s", topic, exc.errors()[0]["msg"])
            return "; ".join(
                f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
            )
        spoken_for = topic_site(topic)
        if event.site_id != spoken_for:
            log.warning("rejected event on %s: it names site %s", topic, event.site_id)
            return f"site_id {event.site_id!r} is not the site of its topic {spoken_for!r}"
        site = self.sites().get(event.site_id)
        if site is None:
            self.unknown_site += 1
            log.warning("rejected event on %s: site %s is not served here", topic, event.site_id)
            return f"site {event.site_id!r} is not among the sites this service serves"
        now = self.clock.now()
        with self.db.session() as s:
            if isinstance(event, AlarmEvent):
                if apply_alarm_event(s, site.spec, event, now, late_after=self.late_after):
                    self.applied += 1
                else:
                    self.duplicates += 1
            elif isinstance(event, AssetStateEvent):
                apply_asset_state(s, site.spec, event, now, late_after=self.late_after)
        return None

    def _apply_result(self, topic: str, payload: bytes) -> str | None:
        """A gateway's answer to a command: stored on the command's row."""
        try:
            result = CommandResult.model_validate_json(payload)
        except ValidationError as exc:
            return "; ".join(
                f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
            )
        if result.site_id != topic_site(topic):
            return f"site_id {result.site_id!r} is not the site of its topic {topic_site(topic)!r}"
        with self.db.session() as s:
            if apply_result(s, result):
                self.applied += 1
            else:
                self.duplicates += 1
        return None
