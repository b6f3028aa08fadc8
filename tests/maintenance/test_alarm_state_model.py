"""告警状态 under any delivery order: the alarm services against a plain reference model.

A simulated gateway raises, repeats and clears episodes of four faults on pump-1 and lift-1-1,
loses and regains its devices, and publishes its snapshot of active conditions on each change.
Its events reach the maintenance side in any order (and a clear is never sent when the gateway
restarts and no longer finds the fault), its snapshots late or out of order; the duty room
acknowledges, shelves and takes alarms out of service; technicians resolve the work orders;
time moves; the service restarts and everything is delivered again.
After every step the services, on a real database, must agree with `alarm_model`: the ISA-18.2
state of every episode, the attention list, one open work order per asset and alarm type, and a
journal row with the new state for every change.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maintenance.alarms.models import Alarm, AlarmJournal
from maintenance.alarms.reconcile import apply_asset_state
from maintenance.alarms.service import (
    AlarmView,
    acknowledge_alarm,
    apply_alarm_event,
    list_alarms,
    remove_from_service,
    return_to_service,
    shelve_alarm,
    unshelve_alarm,
)
from maintenance.alarms.states import AlarmState
from maintenance.db import Base, Database
from maintenance.errors import InvalidRequest
from maintenance.registry.models import Asset
from maintenance.registry.service import sync_registry
from maintenance.work_orders.models import Source, Status, WorkOrder
from maintenance.work_orders.service import alarm_dedup_key, transition
from propwatch.clock import ManualClock
from propwatch.events import ActiveCondition, AlarmAction, AlarmEvent, AssetStateEvent, Severity
from propwatch.site import Site
from tests.maintenance.alarm_model import AlarmModel, Episode
from tests.maintenance.helpers import cleared, raised

T = TypeVar("T")
SITE = "hexie"


@dataclass(frozen=True)
class Fault:
    """An asset and one of its alarm types (from examples/hexie-garden/site.yaml)."""

    asset: str
    alarm_type: str
    rule_id: str
    severity: Severity
    message: str


FAULTS = (
    Fault(
        "pump-1",
        "low_outlet_pressure",
        "pump-outlet-pressure-low",
        Severity.CRITICAL,
        "出水压力过低，可能停水",
    ),
    Fault(
        "pump-1",
        "pump_dry_run",
        "pump-protection",
        Severity.CRITICAL,
        "水泵缺水干转保护动作，请检查水箱水位",
    ),
    Fault(
        "lift-1-1", "elevator_entrapment", "lift-faults", Severity.CRITICAL, "电梯困人，立即救援"
    ),
    Fault("lift-1-1", "elevator_leveling", "lift-faults", Severity.MAJOR, "电梯平层误差超限"),
)
ASSETS = ("pump-1", "lift-1-1")
ACTS = ("acknowledge", "shelve", "unshelve", "take out of service", "return to service")
SHELVE_FOR = (
    timedelta(hours=2),
    timedelta(minutes=10),
    timedelta(days=7),
    timedelta(hours=20),
    timedelta(seconds=1),
    timedelta(0),
    timedelta(minutes=-1),
    timedelta(days=7, seconds=1),
)
SHELVE_REASONS = ("已知故障，配件在途", "夜间施工，误报", "  ")
DONE = {Status.RESOLVED, Status.VERIFIED, Status.CLOSED, Status.REVISITED, Status.CANCELLED}


class Gateway:
    """The edge as the maintenance side hears it: the episodes it holds and what it publishes.

    Each change is one second after the last, so no raise, clear and snapshot share an instant;
    a snapshot is published at the instant of the change it follows, as the real gateway does.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.active: dict[Fault, ActiveCondition] = {}
        self.online = dict.fromkeys(ASSETS, True)
        self.published: list[AssetStateEvent] = []
        self._ids = count(1)

    def startable(self) -> list[Fault]:
        return [f for f in FAULTS if f not in self.active and self.online[f.asset]]

    def holding(self) -> list[Fault]:
        return [f for f in FAULTS if f in self.active and self.online[f.asset]]

    def start(self, fault: Fault) -> AlarmEvent:
        now = self._tick()
        millis = int(now.timestamp() * 1000)
        self.active[fault] = ActiveCondition(
            episode_id=f"{SITE}/{fault.asset}/{fault.rule_id}/{fault.alarm_type}/{millis}",
            alarm_type=fault.alarm_type,
            severity=fault.severity,
            rule_id=fault.rule_id,
            since=now,
            message=fault.message,
        )
        event = self._event(AlarmAction.RAISE, fault, now)
        self.publish(fault.asset)
        return event

    def repeat(self, fault: Fault) -> AlarmEvent:
        return self._event(AlarmAction.RAISE, fault, self._tick())

    def end(self, fault: Fault) -> AlarmEvent:
        event = self._event(AlarmAction.CLEAR, fault, self._tick())
        del self.active[fault]
        self.publish(fault.asset)
        return event

    def forget(self, fault: Fault) -> None:
        self._tick()
        del self.active[fault]
        self.publish(fault.asset)

    def set_online(self, asset: str, online: bool) -> None:
        self._tick()
        self.online[asset] = online
        self.publish(asset)

    def reconnect(self, asset: str) -> AssetStateEvent:
        self._tick()
        return self.publish(asset)

    def held_by(self, asset: str) -> set[str]:
        return {c.episode_id for f, c in self.active.items() if f.asset == asset}

    def publish(self, asset: str) -> AssetStateEvent:
        held = [c for f, c in self.active.items() if f.asset == asset]
        snapshot = AssetStateEvent(
            event_id=f"state-{next(self._ids)}",
            site_id=SITE,
            occurred_at=self.clock.now(),
            asset_id=asset,
            online=self.online[asset],
            active_alarms=[c.alarm_type for c in held],
            conditions=held,
        )
        self.published.append(snapshot)
        return snapshot

    def _tick(self) -> datetime:
        self.clock.advance(1)
        return self.clock.now()

    def _event(self, action: AlarmAction, fault: Fault, at: datetime) -> AlarmEvent:
        c = self.active[fault]
        return AlarmEvent(
            event_id=f"alarm-{next(self._ids)}",
            site_id=SITE,
            occurred_at=at,
            action=action,
            episode_id=c.episode_id,
            asset_id=fault.asset,
            alarm_type=fault.alarm_type,
            severity=fault.severity,
            rule_id=fault.rule_id,
            message=fault.message,
        )


@dataclass
class Backend:
    """A fresh database per example: a new SQLite file, or the session's PostgreSQL database
    emptied (its fixture empties it only after the whole test)."""

    site: Site
    start: datetime
    workdir: Path
    postgres: Database | None
    examples: int = 0

    def fresh(self) -> Database:
        self.examples += 1
        if self.postgres is None:
            db = Database(f"sqlite:///{self.workdir}/example-{self.examples}.db")
            db.create_all()
        else:
            db = self.postgres
            with db.engine.begin() as conn:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
        with db.session() as s:
            sync_registry(s, self.site, self.start)
        return db

    def release(self, db: Database) -> None:
        if db is not self.postgres:
            db.dispose()
            for path in self.workdir.glob(f"example-{self.examples}.db*"):
                path.unlink()


def _seen(view: AlarmView) -> dict[str, object]:
    return {
        "state": view.isa_state.value,
        "raise_count": view.raise_count,
        "raised_at": view.raised_at,
        "cleared_at": view.cleared_at,
        "cleared_by": view.cleared_by,
        "acknowledged": view.acknowledged_at is not None,
        "shelved": view.shelved,
        "shelved_until": view.shelved_until,
        "out_of_service": view.out_of_service_at is not None,
        "stale": view.stale,
    }


def _expected(episode: Episode, now: datetime) -> dict[str, object]:
    return {
        "state": episode.state(now).value,
        "raise_count": episode.raise_count,
        "raised_at": episode.raised_at,
        "cleared_at": episode.cleared_at,
        "cleared_by": episode.cleared_by,
        "acknowledged": episode.acknowledged,
        "shelved": _shelved(episode, now),
        "shelved_until": episode.shelved_until,
        "out_of_service": episode.out_of_service,
        "stale": episode.stale if episode.cleared_at is None else False,
    }


def _differences(
    shown: dict[str, AlarmView], expected: dict[str, Episode], now: datetime
) -> dict[str, object]:
    """Per episode, each field where the services and the model disagree: (services, model)."""
    out: dict[str, object] = {}
    for episode_id in sorted(shown.keys() | expected.keys()):
        if episode_id not in expected:
            out[episode_id] = "listed, but the model has no visible episode"
        elif episode_id not in shown:
            out[episode_id] = "not listed, but visible in the model"
        else:
            seen, want = _seen(shown[episode_id]), _expected(expected[episode_id], now)
            if diff := {k: (seen[k], want[k]) for k in seen if seen[k] != want[k]}:
                out[episode_id] = diff
    return out


def _shelved(episode: Episode, now: datetime) -> bool:
    return episode.shelved_until is not None and episode.shelved_until > now


def _useful(episode: Episode, now: datetime) -> tuple[str, ...]:
    """The duty room's acts that would change this episode."""
    return (
        ("acknowledge",) * (not episode.acknowledged)
        + (("unshelve",) if _shelved(episode, now) else ("shelve",))
        + (("return to service",) if episode.out_of_service else ("take out of service",))
    )


def _pair(x: Fault | Episode) -> tuple[str, str]:
    return x.asset, x.alarm_type


NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Checked:
    """What the last full comparison saw, so that the next one knows what changed since."""

    transactions: int = -1
    at: datetime = NEVER
    states: dict[int, str] = field(default_factory=dict)
    shelves: dict[str, datetime | None] = field(default_factory=dict)
    journal_id: int = 0


class AlarmStates(RuleBasedStateMachine):
    """One example: a fresh database, a gateway, the model, and the steps hypothesis picks."""

    backend: ClassVar[Backend]

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(self.backend.start)
        self.db = self.backend.fresh()
        self.spec = self.backend.site.spec
        self.model = AlarmModel()
        self.gateway = Gateway(self.clock)
        self.pending: list[AlarmEvent] = []
        self.delivered: list[AlarmEvent] = []
        self.latest: dict[str, AssetStateEvent] = {}
        self.resolved: Counter[Fault] = Counter()
        self.transactions = 0
        self.checked = Checked()

    def teardown(self) -> None:
        self.backend.release(self.db)

    # -- the gateway ---------------------------------------------------------------------------

    @precondition(lambda self: self.gateway.startable())
    @rule(data=st.data())
    def fault_starts(self, data: st.DataObject) -> None:
        fault = data.draw(st.sampled_from(self.gateway.startable()), label="fault")
        self.pending.append(self.gateway.start(fault))

    @precondition(lambda self: self.gateway.holding())
    @rule(data=st.data())
    def fault_is_seen_again(self, data: st.DataObject) -> None:
        fault = data.draw(st.sampled_from(self.gateway.holding()), label="fault")
        self.pending.append(self.gateway.repeat(fault))

    @precondition(lambda self: self.gateway.holding())
    @rule(data=st.data())
    def fault_ends(self, data: st.DataObject) -> None:
        fault = data.draw(st.sampled_from(self.gateway.holding()), label="fault")
        self.pending.append(self.gateway.end(fault))

    @precondition(lambda self: self.gateway.holding())
    @rule(data=st.data())
    def fault_ends_unsaid(self, data: st.DataObject) -> None:
        """The gateway restarted and no longer finds it: no clear is ever sent, only its next
        snapshot tells."""
        fault = data.draw(st.sampled_from(self.gateway.holding()), label="fault")
        self.gateway.forget(fault)

    @rule(asset=st.sampled_from(ASSETS), online=st.booleans())
    def device_online_changes(self, asset: str, online: bool) -> None:
        self.gateway.set_online(asset, online)

    # -- delivery to the maintenance service ---------------------------------------------------

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def event_arrives(self, data: st.DataObject) -> None:
        """Any pending event, not necessarily the oldest: QoS 1 keeps no order across replicas
        (counted from the newest, so that overtaking is common)."""
        newer = data.draw(st.integers(0, len(self.pending) - 1), label="pending, newest first")
        event = self.pending.pop(-1 - newer)
        self._deliver(event)
        self.delivered.append(event)

    @precondition(lambda self: self.gateway.published)
    @rule(data=st.data())
    def snapshot_arrives(self, data: st.DataObject) -> None:
        """One of the last few the gateway published, possibly older than one already applied."""
        recent = self.gateway.published[-4:][::-1]
        self._deliver_snapshot(
            recent[data.draw(st.integers(0, len(recent) - 1), label="newest first")]
        )

    @rule(asset=st.sampled_from(ASSETS))
    def gateway_reconnects(self, asset: str) -> None:
        """Its current snapshot arrives: the asset's open alarms are then exactly what it holds."""
        self._deliver_snapshot(self.gateway.reconnect(asset))
        with self.db.session() as s:
            open_alarms = {
                v.episode_id
                for v in list_alarms(s, self.clock.now(), limit=10_000)
                if v.asset == asset and v.cleared_at is None
            }
        assert open_alarms == self.gateway.held_by(asset)

    @precondition(lambda self: self.delivered or self.latest)
    @rule(data=st.data())
    def service_restarts(self, data: st.DataObject) -> None:
        """Every event delivered so far and the latest snapshots arrive again: nothing changes."""
        again: list[AlarmEvent | AssetStateEvent] = [*self.delivered, *self.latest.values()]
        order = data.draw(st.permutations(range(len(again))), label="order")
        before, model_before = self._outcome(), copy.deepcopy(self.model.episodes)
        for i in order:
            event = again[i]
            if isinstance(event, AlarmEvent):
                self._deliver(event)
            else:
                self._deliver_snapshot(event)
        assert self._outcome() == before
        assert self.model.episodes == model_before

    # -- the duty room and the technicians -----------------------------------------------------

    @precondition(lambda self: self.model.visible())
    @rule(data=st.data())
    def duty_room_acts(self, data: st.DataObject) -> None:
        """确认, 搁置 (with a time and reason that may be refused), 取消搁置, 停用 (with a reason
        that may be missing), 恢复启用; twice as often one that changes something."""
        now = self.clock.now()
        episode = self._pick(data)
        alarm_id = self._alarm_id(episode)
        useful = _useful(self.model.episodes[episode], now)
        act = data.draw(st.sampled_from(useful * 2 + ACTS), label="act")
        if act == "acknowledge":
            self._act(lambda s: acknowledge_alarm(s, alarm_id, actor="duty-1", now=now))
            self.model.acknowledge(episode)
        elif act == "shelve":
            until = now + data.draw(st.sampled_from(SHELVE_FOR), label="shelve for")
            reason = data.draw(st.sampled_from(SHELVE_REASONS), label="reason")
            accepted = self._refusable(
                lambda s: shelve_alarm(
                    s, alarm_id, actor="duty-1", until=until, reason=reason, now=now
                )
            )
            assert accepted == self.model.shelve(episode, until=until, reason=reason, now=now)
        elif act == "unshelve":
            self._act(lambda s: unshelve_alarm(s, alarm_id, actor="duty-1", now=now))
            self.model.unshelve(episode, now)
        elif act == "take out of service":
            reason = data.draw(st.sampled_from(["压力传感器送修", "已报厂家", ""]), label="reason")
            accepted = self._refusable(
                lambda s: remove_from_service(s, alarm_id, actor="duty-1", reason=reason, now=now)
            )
            assert accepted == self.model.remove_from_service(episode, reason)
        else:
            self._act(lambda s: return_to_service(s, alarm_id, actor="duty-1", now=now))
            self.model.return_to_service(episode)

    @precondition(lambda self: self.model.visible())
    @rule(data=st.data())
    def technician_resolves_the_order(self, data: st.DataObject) -> None:
        """完成: the order is done, so the fault's next episode may open a new one."""
        held = {_pair(e) for e in self.model.visible()}
        faults = [f for f in FAULTS if _pair(f) in held]
        fault = data.draw(st.sampled_from(faults), label="fault")
        key = alarm_dedup_key(SITE, fault.asset, fault.alarm_type)

        def resolve(s: Session) -> bool:
            wo = s.scalar(select(WorkOrder).where(WorkOrder.dedup_key == key))
            if wo is None:
                return False
            now = self.clock.now()
            if wo.status == Status.REGISTERED:
                transition(
                    s,
                    self.spec,
                    wo.id,
                    Status.DISPATCHED,
                    actor="duty-1",
                    now=now,
                    assignee="li-shifu",
                )
            for to in (Status.ACCEPTED, Status.ON_SITE, Status.RESOLVED):
                transition(s, self.spec, wo.id, to, actor="wang-gong", now=now)
            return True

        if self._act(resolve):
            self.resolved[fault] += 1

    @rule(
        by=st.sampled_from(
            [
                timedelta(seconds=30),
                timedelta(minutes=11),
                timedelta(hours=2),
                timedelta(days=1),
                timedelta(days=8),
            ]
        )
    )
    def time_passes(self, by: timedelta) -> None:
        self.clock.advance(by)

    # -- what must hold after every step -------------------------------------------------------

    @invariant()
    def the_services_agree_with_the_model(self) -> None:
        """States, the lists, the journal and the work orders, read in one transaction."""
        now = self.clock.now()
        if self._settled(now):
            return
        with self.db.session() as s:
            shown = {v.episode_id: v for v in list_alarms(s, now, limit=10_000)}
            attention = {v.episode_id for v in list_alarms(s, now, attention=True, limit=10_000)}
            unshelved = {
                v.episode_id for v in list_alarms(s, now, include_shelved=False, limit=10_000)
            }
            unseen = set(s.scalars(select(Alarm.episode_id).where(Alarm.raise_count == 0)))
            journal = [
                (i, alarm_id, state)
                for i, alarm_id, state in s.execute(
                    select(AlarmJournal.id, AlarmJournal.alarm_id, AlarmJournal.state)
                    .where(AlarmJournal.id > self.checked.journal_id)
                    .order_by(AlarmJournal.id)
                )
            ]
            orders = [
                (wo, code)
                for wo, code in s.execute(
                    select(WorkOrder, Asset.code)
                    .join(Asset, Asset.id == WorkOrder.asset_id)
                    .where(WorkOrder.source == Source.ALARM)
                )
            ]
        expected = {e.episode_id: e for e in self.model.visible()}
        assert not (differences := _differences(shown, expected, now)), differences
        assert attention == self.model.attention(now)
        assert unshelved == {k for k, e in expected.items() if not _shelved(e, now)}
        assert unseen == {k for k, e in self.model.episodes.items() if not e.visible}
        self._check_journal(shown, journal, now)
        self._check_work_orders(shown, orders)
        self.checked.transactions, self.checked.at = self.transactions, now

    def _check_journal(
        self, shown: dict[str, AlarmView], journal: list[tuple[int, int, str]], now: datetime
    ) -> None:
        """告警日志: every alarm whose state changed since the last check has a journal row
        written since, the last of which holds its new state. A shelve running out is the one
        change with no row: nobody acted."""
        last = {alarm_id: state for _, alarm_id, state in journal}
        ran_out = {
            v.id
            for v in shown.values()
            if (until := self.checked.shelves.get(v.episode_id)) is not None
            and until == v.shelved_until
            and self.checked.at < until <= now
        }
        states = {v.id: v.isa_state.value for v in shown.values()}
        missing = {
            alarm_id: (last.get(alarm_id), state)
            for alarm_id, state in states.items()
            if self.checked.states.get(alarm_id) != state
            and alarm_id not in ran_out
            and last.get(alarm_id) != state
        }
        assert not missing, f"state changes without their journal row (journal, now): {missing}"
        self.checked.states = states
        self.checked.shelves = {k: v.shelved_until for k, v in shown.items()}
        self.checked.journal_id = journal[-1][0] if journal else self.checked.journal_id

    def _check_work_orders(
        self, shown: dict[str, AlarmView], orders: list[tuple[WorkOrder, str]]
    ) -> None:
        """One open work order per asset and alarm type; every episode counted on one of them."""
        for fault in FAULTS:
            mine = [wo for wo, code in orders if (code, wo.alarm_type) == _pair(fault)]
            episodes = [e.episode_id for e in self.model.visible() if _pair(e) == _pair(fault)]
            key = alarm_dedup_key(SITE, fault.asset, fault.alarm_type)
            still_open = [wo for wo in mine if wo.status not in DONE]
            assert len(still_open) <= 1, f"{fault.alarm_type} on {fault.asset}: doubled order"
            assert [wo.dedup_key for wo in still_open] == [key] * len(still_open)
            assert all(wo.dedup_key is None for wo in mine if wo.status in DONE)
            assert bool(mine) == bool(episodes)
            assert len(mine) <= 1 + self.resolved[fault]
            assert sum(wo.occurrences for wo in mine) == len(episodes)
            assert {shown[e].work_order_id for e in episodes} <= {wo.id for wo in mine}

    def _settled(self, now: datetime) -> bool:
        """Nothing to compare again: no transaction since the last check, and no shelve has run
        out since (the only way time alone changes a state; `shelved_until` is compared)."""
        c = self.checked
        return c.transactions == self.transactions and not any(
            until is not None and c.at < until <= now for until in c.shelves.values()
        )

    # -- helpers -------------------------------------------------------------------------------

    def _deliver(self, event: AlarmEvent) -> None:
        applied = self._act(lambda s: apply_alarm_event(s, self.spec, event, self.clock.now()))
        assert applied == self.model.apply_event(event)

    def _deliver_snapshot(self, event: AssetStateEvent) -> None:
        applied = self._act(lambda s: apply_asset_state(s, self.spec, event, self.clock.now()))
        assert applied == self.model.apply_snapshot(event)
        if applied:
            self.latest[event.asset_id] = event

    def _act(self, change: Callable[[Session], T]) -> T:
        """One transaction, as the consumer and the API run each request."""
        try:
            with self.db.session() as s:
                return change(s)
        finally:
            self.transactions += 1

    def _refusable(self, change: Callable[[Session], object]) -> bool:
        """False when the service refused the request (and so changed nothing)."""
        try:
            self._act(change)
        except InvalidRequest:
            return False
        return True

    def _outcome(self) -> dict[str, object]:
        """Everything a redelivery could change."""
        with self.db.session() as s:
            outcome: dict[str, object] = {
                "alarm": [tuple(r) for r in s.execute(select(Alarm.__table__).order_by(Alarm.id))],
                "work_order": [
                    tuple(r) for r in s.execute(select(WorkOrder.__table__).order_by(WorkOrder.id))
                ],
                "asset": [
                    tuple(r)
                    for r in s.execute(
                        select(Asset.code, Asset.state, Asset.state_at).order_by(Asset.id)
                    )
                ],
            }
            for table in (
                "alarm_journal",
                "work_order_transition",
                "notification",
                "processed_event",
            ):
                outcome[table] = s.scalar(
                    select(func.count()).select_from(Base.metadata.tables[table])
                )
        return outcome

    def _pick(self, data: st.DataObject) -> str:
        visible = sorted(e.episode_id for e in self.model.visible())
        return data.draw(st.sampled_from(visible), label="episode")

    def _alarm_id(self, episode_id: str) -> int:
        with self.db.session() as s:
            alarm_id = s.scalar(select(Alarm.id).where(Alarm.episode_id == episode_id))
        assert alarm_id is not None, episode_id
        return alarm_id


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_alarm_states_follow_the_reference_model(
    db: Database, site: Site, clock: ManualClock, tmp_path: Path
) -> None:
    """Every step hypothesis picks keeps the services and the reference model in agreement."""

    class Machine(AlarmStates):
        backend = Backend(site, clock.now(), tmp_path, None if db.url.startswith("sqlite") else db)

    run_state_machine_as_test(Machine, settings=SETTINGS)


def test_a_raise_after_its_clear_while_offline_is_not_stale(
    db: Database, site: Site, clock: ManualClock
) -> None:
    """The device goes offline, then the clear arrives before its raise: the episode has
    returned, so nothing about it is unknown (the minimal case the property test found)."""
    t = clock.now()
    at = t + timedelta(seconds=2)
    offline = AssetStateEvent(
        site_id=SITE, occurred_at=at, asset_id="pump-1", online=False, conditions=[]
    )
    with db.session() as s:
        apply_asset_state(s, site.spec, offline, clock.now())
    for event in (cleared(t + timedelta(seconds=1)), raised(t)):
        with db.session() as s:
            apply_alarm_event(s, site.spec, event, clock.now())
    with db.session() as s:
        [alarm] = list_alarms(s, clock.now())
    assert (alarm.isa_state, alarm.cleared_by, alarm.stale) == (
        AlarmState.RETURNED_UNACKNOWLEDGED,
        "gateway",
        False,
    )
