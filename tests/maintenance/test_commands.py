"""The command table's life on both backends: kept checked, claimed once, settled by the
gateway's answer once, and expired when nobody answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from maintenance.commands.models import DeviceCommand
from maintenance.commands.service import (
    NO_ANSWER,
    NO_ANSWER_GRACE,
    NOT_SENT,
    UnknownAsset,
    any_unanswered,
    apply_result,
    claim_for_sending,
    due_to_send,
    expire_unanswered,
    record_command,
)
from maintenance.db import Database
from propwatch.clock import ManualClock
from propwatch.commands import CommandRefused, CommandResult
from propwatch.site import Site


def _record(db: Database, site: Site, clock: ManualClock, point: str, value: object) -> int:
    with db.session() as s:
        c = record_command(
            s,
            site,
            "lighting-b",
            point,
            value,
            timedelta(seconds=60),
            requested_by="值班室",
            requested_role="duty",
            now=clock.now(),
        )
        return c.id


def _row(db: Database, command_id: int) -> DeviceCommand:
    with db.session() as s:
        row = s.get(DeviceCommand, command_id)
        assert row is not None
        s.expunge(row)
        return row


def _result(command_id: int, state: str, clock: ManualClock, **kw: object) -> CommandResult:
    return CommandResult.model_validate(
        {"command_id": command_id, "site_id": "hexie", "asset_id": "lighting-b", "state": state}
        | {"at": clock.now()}
        | kw
    )


def test_a_command_is_kept_claimed_once_and_settled_once(
    db: Database, site: Site, clock: ManualClock
) -> None:
    first = _record(db, site, clock, "circuit_1_command", 1)
    row = _row(db, first)
    assert (row.state, row.value, row.device_id, row.requested_by) == (
        "pending",
        True,
        "lighting-b",
        "值班室",
    )
    assert row.expires_at == clock.now() + timedelta(seconds=60)
    with db.session() as s:
        assert [c.id for c in due_to_send(s, {"hexie"}, clock.now())] == [first]
        assert due_to_send(s, {"elsewhere"}, clock.now()) == []
        assert claim_for_sending(s, first, clock.now())
    with db.session() as s:  # a second replica loses the claim
        assert not claim_for_sending(s, first, clock.now())
        assert due_to_send(s, {"hexie"}, clock.now()) == []
    clock.advance(timedelta(seconds=1))
    with db.session() as s:
        assert apply_result(s, _result(first, "done", clock, read_back=True))
    with db.session() as s:  # a redelivery, or a contradicting late copy, changes nothing
        assert not apply_result(s, _result(first, "failed", clock, reason="x"))
    row = _row(db, first)
    assert (row.state, row.read_back, row.reason) == ("done", True, "")
    assert row.finished_at == clock.now()
    with db.session() as s:  # another asset's answer does not touch it
        other = _result(first, "failed", clock).model_copy(update={"asset_id": "pump-1"})
        assert not apply_result(s, other)


def test_refused_commands_keep_nothing(db: Database, site: Site, clock: ManualClock) -> None:
    with pytest.raises(CommandRefused):
        _record(db, site, clock, "circuit_1_current", 1.0)
    with pytest.raises(CommandRefused):
        _record(db, site, clock, "circuit_1_rated_current", -1)
    with db.session() as s, pytest.raises(UnknownAsset):
        record_command(
            s,
            site,
            "no-such",
            "circuit_1_command",
            True,
            timedelta(seconds=5),
            requested_by="x",
            requested_role="duty",
            now=clock.now(),
        )
    with db.session() as s:
        assert s.query(DeviceCommand).count() == 0


def test_commands_nobody_answered_expire_and_a_late_answer_still_counts(
    db: Database, site: Site, clock: ManualClock
) -> None:
    never_sent = _record(db, site, clock, "circuit_1_command", True)
    sent = _record(db, site, clock, "circuit_2_command", True)
    with db.session() as s:
        assert claim_for_sending(s, sent, clock.now())
    clock.advance(timedelta(seconds=60))  # both at their expiry
    with db.session() as s:
        assert any_unanswered(s, clock.now())
        assert expire_unanswered(s, clock.now()) == 1  # the sent one has its grace
        assert not claim_for_sending(s, never_sent, clock.now())
    assert (_row(db, never_sent).state, _row(db, never_sent).reason) == ("expired", NOT_SENT)
    assert _row(db, sent).state == "sent"
    clock.advance(NO_ANSWER_GRACE)
    with db.session() as s:
        assert expire_unanswered(s, clock.now()) == 1
        assert not any_unanswered(s, clock.now())
    assert (_row(db, sent).state, _row(db, sent).reason) == ("expired", NO_ANSWER)
    with db.session() as s:  # the gateway executed it just in time after all
        assert apply_result(s, _result(sent, "done", clock, read_back=True))
    assert _row(db, sent).state == "done"
