"""会话占用: which gateway holds an MQTT client id, and when another one takes it over.

The gateway's client id names its persistent session (`propwatch-gateway-<site>`, plus
`-<PROPWATCH_INSTANCE_ID>` when set). Two gateways started with one id (a copied site file, a
spare box next to the running one) take the session from each other at every reconnect: the
broker closes the older connection, in MQTT 3.1.1 without a word, and each one gets a share of
the devices' messages. Nothing looks wrong but a connection that flaps.

So each gateway announces itself, retained, on a topic of its client id
(`propwatch/<site>/gateways/<client id>`: a token of this process, its host, pid and the time it
connected), subscribing to that topic first on every connection. What the broker hands back
before our own announcement is whoever held the session last; another process still marked
online there has the session too: on our first connection of this life we took it from that
one, on a later one that one took it from us while we were away (and our reconnect takes it
back). Both sides log it and count it. A gateway that stops marks itself offline, and the
broker does it for one that dies (its will), so a restart is not a takeover.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

import paho.mqtt.client as paho

from propwatch.clock import Clock
from propwatch.events import TOPIC_ROOT
from propwatch.mqtt import MqttConnection

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0


def gateway_client_id(site_id: str, instance_id: str | None) -> str:
    """One persistent session per gateway instance: stable across restarts (the broker keeps
    what arrives while the gateway is down), distinct for a second instance of the site."""
    return f"propwatch-gateway-{site_id}" + (f"-{instance_id}" if instance_id else "")


@dataclass(frozen=True)
class Holder:
    """A gateway process as it announces itself on its client id's topic."""

    instance: str
    host: str
    pid: int
    since: str
    online: bool

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def parse(cls, payload: bytes) -> Holder | None:
        try:
            doc = json.loads(payload)
            return cls(
                str(doc["instance"]),
                str(doc["host"]),
                int(doc["pid"]),
                str(doc["since"]),
                bool(doc["online"]),
            )
        except (ValueError, TypeError, KeyError):
            return None


class SessionHolder:
    """Announces this gateway on its client id's topic and notices another one there."""

    def __init__(
        self, site_id: str, client_id: str, connection: MqttConnection, clock: Clock
    ) -> None:
        self.connection = connection
        self.clock = clock
        self.client_id = client_id
        self.topic = f"{TOPIC_ROOT}/{site_id}/gateways/{self.client_id}"
        self.me = Holder(uuid.uuid4().hex, socket.gethostname(), os.getpid(), "", True)
        self.took_over = 0
        """Connections on which we took the session from another live gateway."""
        self.taken_over = 0
        """Connections on which we found another gateway had taken the session meanwhile."""
        self.other: Holder | None = None
        """The last other gateway seen holding this client id."""
        self.previous: Holder | None = None
        """Who held the session before this connection, as the broker kept it (None: nobody
        since the broker's retained messages began, or not heard yet)."""
        self._last_log = float("-inf")
        self._unlogged = 0
        offline = Holder(self.me.instance, self.me.host, self.me.pid, "", False)
        connection.client.will_set(self.topic, offline.to_json(), qos=1, retain=True)
        connection.client.message_callback_add(self.topic, self._on_holder)
        # QoS 0: the announcement needs no acknowledgement on a manually acknowledged session.
        connection.subscribe(self.topic, qos=0)

    def connected(self) -> None:
        """From paho's thread, after the subscriptions of a new connection were sent: announce
        this process (the broker answers the subscription first, with the previous holder)."""
        since = self.clock.now().isoformat(timespec="seconds")
        me = Holder(self.me.instance, self.me.host, self.me.pid, since, True)
        self.connection.publish(self.topic, me.to_json(), qos=1, retain=True)

    def _on_holder(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        holder = Holder.parse(bytes(msg.payload))
        if holder is None or holder.instance == self.me.instance:
            return
        if not msg.retain:  # live: it announced itself while we were connected (a race)
            return
        self.previous = holder
        if not holder.online:  # it stopped or died: the session was free
            return
        self.other = holder
        if self.connection.connect_count <= 1:
            self.took_over += 1
            what = "this gateway took over the session of"
        else:
            self.taken_over += 1
            what = "the session was taken over meanwhile by"
        self._log(what, holder)

    def _log(self, what: str, holder: Holder) -> None:
        now = time.monotonic()
        self._unlogged += 1
        if now - self._last_log < LOG_EVERY_S:
            return
        self._last_log = now
        log.warning(
            "MQTT client id %s is used by two gateways: %s the gateway on %s (pid %s, connected "
            "since %s); each connection takes the session from the other and each gets part of "
            "the devices' messages. Give each gateway its own PROPWATCH_INSTANCE_ID "
            "(%d such connections since the last report)",
            self.client_id,
            what,
            holder.host,
            holder.pid,
            holder.since,
            self._unlogged,
        )
        self._unlogged = 0

    def release(self) -> paho.MQTTMessageInfo:
        """On a clean stop: this process no longer holds the session (a restart is no
        takeover). The caller waits for the broker's acknowledgement if it likes."""
        offline = Holder(self.me.instance, self.me.host, self.me.pid, "", False)
        return self.connection.publish(self.topic, offline.to_json(), qos=1, retain=True)
