"""A plain reference model of the alarm states (告警状态, ISA-18.2 as propwatch implements it).

Written from the rules, not from the services: a dictionary of episodes and a few if-statements,
so that the property test beside it can run both on the same inputs and compare them. It knows
nothing of work orders, routing, lateness or design suppression; only which state every episode
is in and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from propwatch.events import AlarmAction, AlarmEvent, AssetStateEvent

MAX_SHELVE = timedelta(days=7)
GATEWAY = "gateway"
RECONCILIATION = "reconciliation"


class State(StrEnum):
    """The ISA-18.2 states this model can reach (no design suppression here)."""

    UNACKNOWLEDGED = "unacknowledged"
    ACKNOWLEDGED = "acknowledged"
    RETURNED_UNACKNOWLEDGED = "returned_unacknowledged"
    NORMAL = "normal"
    SHELVED = "shelved"
    OUT_OF_SERVICE = "out_of_service"


@dataclass
class Episode:
    """One alarm episode as the rules say it should be."""

    episode_id: str
    asset: str
    alarm_type: str
    raise_count: int = 0
    raised_at: datetime | None = None
    cleared_at: datetime | None = None
    cleared_by: str | None = None
    acknowledged: bool = False
    shelved_until: datetime | None = None
    out_of_service: bool = False
    stale: bool = False
    # Raised from a snapshot: its own raise event, when it comes, is that same raise.
    awaiting_raise_event: bool = False

    @property
    def visible(self) -> bool:
        """A clear alone (its raise not yet arrived) is kept but shown to nobody."""
        return self.raise_count > 0

    @property
    def open(self) -> bool:
        return self.visible and self.cleared_at is None

    def state(self, now: datetime) -> State:
        if self.out_of_service:
            return State.OUT_OF_SERVICE
        if self.shelved_until is not None and now < self.shelved_until:
            return State.SHELVED
        if self.cleared_at is None:
            return State.ACKNOWLEDGED if self.acknowledged else State.UNACKNOWLEDGED
        return State.NORMAL if self.acknowledged else State.RETURNED_UNACKNOWLEDGED


@dataclass(frozen=True)
class Snapshot:
    """The last snapshot applied for an asset: when, online or not, which episodes it held."""

    at: datetime
    online: bool
    episodes: frozenset[str]


class AlarmModel:
    """Every episode, the event ids already applied and the last snapshot of each asset."""

    def __init__(self) -> None:
        self.episodes: dict[str, Episode] = {}
        self.applied: set[str] = set()
        self.snapshots: dict[str, Snapshot] = {}

    def visible(self) -> list[Episode]:
        return [e for e in self.episodes.values() if e.visible]

    def attention(self, now: datetime) -> set[str]:
        """On the duty room's list: every visible episode but the returned, acknowledged ones."""
        return {e.episode_id for e in self.visible() if e.state(now) is not State.NORMAL}

    def apply_event(self, event: AlarmEvent) -> bool:
        """A raise or a clear; False for an event id already applied."""
        if event.event_id in self.applied:
            return False
        self.applied.add(event.event_id)
        episode = self.episodes.get(event.episode_id)
        if event.action is AlarmAction.CLEAR:
            if episode is None:
                self.episodes[event.episode_id] = Episode(
                    event.episode_id,
                    event.asset_id,
                    event.alarm_type,
                    cleared_at=event.occurred_at,
                    cleared_by=GATEWAY,
                )
            elif episode.cleared_at is None:
                self._clear(episode, event.occurred_at, GATEWAY)
            return True
        if episode is None:
            episode = Episode(
                event.episode_id,
                event.asset_id,
                event.alarm_type,
                raise_count=1,
                raised_at=event.occurred_at,
                stale=self._offline(event.asset_id),
            )
            self.episodes[event.episode_id] = episode
            last = self.snapshots.get(event.asset_id)
            if (
                last is not None
                and last.at >= event.occurred_at
                and event.episode_id not in last.episodes
            ):
                self._clear(episode, last.at, RECONCILIATION)
        elif episode.raise_count == 0:
            # The clear came first: this late raise makes a returned episode.
            episode.raise_count, episode.raised_at = 1, event.occurred_at
        elif episode.awaiting_raise_event:
            episode.awaiting_raise_event = False
        else:
            episode.raise_count += 1
        return True

    def apply_snapshot(self, event: AssetStateEvent) -> bool:
        """对账 with the gateway's set of the asset's active episodes; False for an older one."""
        assert event.conditions is not None
        last = self.snapshots.get(event.asset_id)
        if last is not None and event.occurred_at < last.at:
            return False
        held = {c.episode_id: c for c in event.conditions}
        self.snapshots[event.asset_id] = Snapshot(event.occurred_at, event.online, frozenset(held))
        for episode in self.episodes.values():
            if episode.asset != event.asset_id or not episode.open:
                continue
            assert episode.raised_at is not None
            if episode.episode_id in held:
                episode.stale = not event.online
            elif episode.raised_at <= event.occurred_at:
                self._clear(episode, event.occurred_at, RECONCILIATION)
        for c in event.conditions:
            if c.episode_id not in self.episodes:
                self.episodes[c.episode_id] = Episode(
                    c.episode_id,
                    event.asset_id,
                    c.alarm_type,
                    raise_count=1,
                    raised_at=c.since,
                    stale=not event.online,
                    awaiting_raise_event=True,
                )
        return True

    def acknowledge(self, episode_id: str) -> None:
        self.episodes[episode_id].acknowledged = True

    def shelve(self, episode_id: str, *, until: datetime, reason: str, now: datetime) -> bool:
        """False (and nothing changes) without a reason, or for a time not in (now, now + 7 d]."""
        if not reason.strip() or until <= now or until - now > MAX_SHELVE:
            return False
        self.episodes[episode_id].shelved_until = until
        return True

    def unshelve(self, episode_id: str, now: datetime) -> None:
        episode = self.episodes[episode_id]
        if episode.shelved_until is not None and episode.shelved_until > now:
            episode.shelved_until = now

    def remove_from_service(self, episode_id: str, reason: str) -> bool:
        if not reason.strip():
            return False
        self.episodes[episode_id].out_of_service = True
        return True

    def return_to_service(self, episode_id: str) -> None:
        self.episodes[episode_id].out_of_service = False

    def _offline(self, asset: str) -> bool:
        last = self.snapshots.get(asset)
        return last is not None and not last.online

    @staticmethod
    def _clear(episode: Episode, at: datetime, by: str) -> None:
        episode.cleared_at, episode.cleared_by, episode.stale = at, by, False
