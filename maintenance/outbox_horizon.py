"""Which outbox ids are final: no transaction can still commit one of them.

Outbox ids come from a sequence, and on PostgreSQL transactions commit in any order: row 101 of
a site may be visible while row 100 of the same site is still being written by another replica
(or by the API). A reader that moves its cursor to the highest id it sees would never see 100.
A reader therefore takes rows only up to the horizon: every id up to it is visible, or known
never to come.

The horizon moves to a row's id when every id between it and the row is visible. When some are
missing (a transaction still writing, or ids a rollback burnt), the transactions running a
moment later are noted; once all of them have ended (`pg_xact_status`, at once when none is
running), the missing ids are final (committed since, or rolled back), since any transaction
drawing an id after the look draws a higher one. A hole held longer than
`MAX_HOLD_SECONDS` is given up and counted, so one stuck transaction cannot stop a site's
notifications. On SQLite writers take the write lock before they draw an id, so rows commit in
id order and every visible row is below the horizon.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from maintenance.notifications import Notification

log = logging.getLogger(__name__)

MIN_HOLE_AGE_SECONDS = 0.05
"""A hole is never settled sooner: covers an INSERT whose id is drawn an instant before its
transaction id exists."""
MAX_HOLD_SECONDS = 60.0


@dataclass
class _Look:
    top: int  # the highest id seen when the hole was found
    xids: list[str]  # the transactions running then
    seen: float


class OutboxHorizon:
    """One reader's horizon over the global outbox ids (`final_through`)."""

    def __init__(self, start: int = 0) -> None:
        self.final_through = start
        self.holes_waited = 0
        self.holes_given_up = 0
        self._look: _Look | None = None

    def advance(self, s: Session, after: int, top: int) -> int:
        """The highest id up to `top` that is final, given that ids up to `after` are (the
        reader's cursor). Read the rows up to it afterwards: a hole settled here may have been
        filled meanwhile. PostgreSQL only: one count over the ids between; when a hole is new,
        a look (after `MIN_HOLE_AGE_SECONDS`) at the transactions it may wait for, which
        settles it at once when none is running."""
        self.final_through = max(self.final_through, after)
        while top > self.final_through:
            start = self.final_through
            visible = s.scalar(
                select(func.count()).where(Notification.id > start, Notification.id <= top)
            )
            if visible == top - start:
                self.final_through, self._look = top, None
                break
            look = self._look
            if look is None or look.top <= start:
                time.sleep(MIN_HOLE_AGE_SECONDS)  # blocking: planners run in a thread
                look = self._look = _Look(top, running_xids(s), time.monotonic())
                self.holes_waited += 1
            if in_progress(s, look.xids):
                if time.monotonic() - look.seen <= MAX_HOLD_SECONDS:
                    break
                self.holes_given_up += 1
                log.warning(
                    "outbox ids after %d missing for %.0f s; moving on",
                    start,
                    time.monotonic() - look.seen,
                )
            # every id up to the look's top is final: committed since, or never to come
            self.final_through, self._look = look.top, None
        return min(top, self.final_through)


def running_xids(s: Session) -> list[str]:
    """The write transactions running now, by id (PostgreSQL)."""
    return [str(x) for x in s.scalars(text("SELECT pg_snapshot_xip(pg_current_snapshot())::text"))]


def in_progress(s: Session, xids: list[str]) -> bool:
    """Whether any of `xids` is still running (PostgreSQL)."""
    if not xids:
        return False
    return bool(
        s.scalar(
            text(
                "SELECT count(*) FROM unnest(CAST(:xids AS text[])) AS x"
                " WHERE pg_xact_status(CAST(x AS xid8)) = 'in progress'"
            ),
            {"xids": xids},
        )
    )
