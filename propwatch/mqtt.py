"""One way to open a paho-mqtt 2 client from a URL, shared by every service.

paho runs its network loop in its own thread; callers bridge into asyncio with
`loop.call_soon_threadsafe`. In-flight QoS 1 publishes are bounded (`max_inflight`) because past
65,535 unacknowledged messages paho's 16-bit message ids wrap and messages vanish silently.

With `manual_ack`, a received QoS 1 message is acknowledged only when the caller says so. Its
packet id belongs to the connection it came on: after a reconnect the broker delivers every
unacknowledged message of the persistent session again (MQTT 3.1.1 §4.4), so a late ack of the
old copy is not sent (`ack(..., connection=)`), and the new copy is the one acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

DEFAULT_PORT = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
PUBACK_HEADER = 0x40
"""MQTT 3.1.1 PUBACK: this byte, remaining length 2, the packet id (§3.4)."""
_PUBACK = struct.Struct("!BBH")


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in DEFAULT_PORT:
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (mqtt, mqtts)")
        if not parts.hostname:
            raise ValueError(f"MQTT URL without a host (scheme {parts.scheme!r})")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORT[parts.scheme],
            tls=parts.scheme in ("mqtts", "ssl"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _no_delay(client: paho.Client) -> None:
    """Send each packet at once (TCP_NODELAY): with Nagle, a small packet written while the
    previous one is unacknowledged waits for the peer's delayed ACK (40 ms on Linux), so a
    publish right after an acknowledgement, or two in a row, each cost 40 ms in latency."""
    sock = client.socket()
    if isinstance(sock, socket.socket):  # TCP or TLS (ssl.SSLSocket is one)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttConnection:
    """A paho client with reconnect, resubscribe on connect and a bound on in-flight publishes."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        clean_start: bool = True,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        max_inflight: int = 1000,
        manual_ack: bool = False,
    ) -> None:
        self.address = BrokerAddress.parse(url)
        # manual_ack: received QoS 1 messages are acknowledged by `ack()`, once the caller has
        # made what they carried safe, instead of as soon as the callback returns.
        self.manual_ack = manual_ack
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_start,
            protocol=paho.MQTTv311,  # the embedded broker (amqtt) speaks 3.1.1 only
            manual_ack=manual_ack,
        )
        user = username or self.address.username
        if user:
            self.client.username_pw_set(user, password or self.address.password)
        if self.address.tls:
            ctx = ssl.create_default_context(cafile=ca_file)
            self.client.tls_set_context(ctx)
        # paho's own queue of packets to write (`ack` puts one PUBACK at a time in it), for
        # `ack_many`; without it (another paho), acks go one by one
        self._queue_packet: Callable[[int, bytes, int, int], object] | None = (
            getattr(self.client, "_packet_queue", None) if manual_ack else None
        )
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_pre_connect = self._on_pre_connect
        # Which connection a received message came on; changes (under the lock, in paho's
        # thread) when a connection ends and before the next one starts.
        self.connection_number = 0
        self._ack_lock = threading.Lock()
        self._subscriptions: dict[str, int] = {}
        self.connected = threading.Event()
        self.on_message: Callable[[paho.MQTTMessage], None] | None = None
        # Called from paho's thread after every successful (re)connect and resubscribe.
        self.on_connected: Callable[[], None] | None = None
        self.client.on_message = self._dispatch
        self.connect_count = 0

    def _dispatch(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if self.on_message is not None:
            self.on_message(msg)

    def _on_pre_connect(self, client: paho.Client, userdata: object) -> None:
        self._next_connection()

    def _next_connection(self) -> None:
        with self._ack_lock:
            self.connection_number += 1

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            return
        _no_delay(client)
        self.connect_count += 1
        for topic, qos in self._subscriptions.items():
            client.subscribe(topic, qos)
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._next_connection()
        self.connected.clear()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Remember the subscription so it is renewed after every reconnect."""
        self._subscriptions[topic] = qos
        if self.connected.is_set():
            self.client.subscribe(topic, qos)

    def unsubscribe(self, topic: str) -> None:
        """Forget the subscription, here and at the broker."""
        if self._subscriptions.pop(topic, None) is not None and self.connected.is_set():
            self.client.unsubscribe(topic)

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()

    async def wait_connected(self, within: float = 10.0) -> None:
        if not await asyncio.to_thread(self.connected.wait, within):
            raise ConnectionError(
                f"no MQTT connection to {self.address.host}:{self.address.port} within {within}s"
            )

    def stop(self, flush_within: float = 2.0) -> None:
        """Disconnect and end paho's thread, the packets already queued (acknowledgements
        above all) written first: paho's own teardown may leave them unwritten, and the broker
        then delivers those messages again."""
        self._flush(flush_within)
        self.client.disconnect()
        self.client.loop_stop()

    def _flush(self, within: float) -> None:
        deadline = time.monotonic() + within
        while self.client.want_write() and self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.002)

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Queue a publish; the returned info tells when the broker has acknowledged it."""
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, mid: int, qos: int, connection: int | None = None) -> bool:
        """Acknowledge a received message (with `manual_ack=True`); thread-safe.

        With `connection` (its `connection_number` when it arrived), a message whose connection
        has ended is not acknowledged: False, and the broker delivers it again on the new one.
        """
        return self.ack_many([(mid, qos, connection)]) == 1

    def ack_many(self, acks: Iterable[tuple[int, int, int | None]]) -> int:
        """Acknowledge (mid, qos, connection) received messages at once, as `ack` does each;
        thread-safe. The QoS 1 ones go out as one write of their PUBACKs (four bytes each in
        MQTT 3.1.1) instead of one queued packet, and one wake-up of paho's thread, each.
        Returns how many were acknowledged."""
        pubacks = bytearray()
        done = 0
        with self._ack_lock:
            for mid, qos, connection in acks:
                if connection is not None and connection != self.connection_number:
                    continue
                done += 1
                if qos == 1 and self._queue_packet is not None:
                    pubacks += _PUBACK.pack(PUBACK_HEADER, 2, mid)
                else:
                    self.client.ack(mid, qos)
            if pubacks and self._queue_packet is not None:
                self._queue_packet(PUBACK_HEADER, bytes(pubacks), 0, 1)
        return done

    def renew_session(self, flush_within: float = 2.0) -> None:
        """End the connection and let paho reconnect with the same persistent session: the broker
        then delivers again every message it holds unacknowledged for this client.

        Blocking (run it in a thread): the acknowledgements already queued are written first,
        and the socket is only half-closed, so the broker reads them all before the end."""
        self._flush(flush_within)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # TCP or TLS (ssl.SSLSocket is one)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
