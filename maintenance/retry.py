"""重试: the retry schedule every deliverer of the outbox shares (webhook subscriptions and the
notification channels), so an operator learns one rule: 10 s, 20 s, 40 s … at most an hour apart,
`MAX_ATTEMPTS` tries, then failed until someone sends it again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=1)


class Retried(Protocol):
    """A delivery row: pending until delivered, or failed after its last try."""

    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failures: 10 s doubling, at most an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(wait, LONGEST_RETRY)


def settle(row: Retried, *, ok: bool, error: str | None, now: datetime) -> None:
    """Count one try: delivered, due again after `backoff`, or failed after the last one."""
    row.attempts += 1
    row.last_error = error
    if ok:
        row.state, row.delivered_at = "delivered", now
    elif row.attempts >= MAX_ATTEMPTS:
        row.state = "failed"
    else:
        row.next_attempt_at = now + backoff(row.attempts)


def requeue(row: Retried, now: datetime) -> None:
    """Send again now, whatever the state (the receiver lost it, or was fixed)."""
    row.state, row.next_attempt_at, row.attempts = "pending", now, 0
    row.last_error = None
