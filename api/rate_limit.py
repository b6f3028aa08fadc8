"""限流: requests per token, so one runaway script cannot starve the duty room.

A token bucket per token name: `burst` requests at once, refilled at `per_second`. Past it the
answer is 429 with `Retry-After` (whole seconds until a request would pass). The buckets live in
the memory of one API process: with several replicas behind a balancer each one counts apart, so
a client may reach the figures once per replica.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets on a monotonic time given by the caller (the injected clock)."""

    def __init__(self, per_second: float, burst: int, capacity: int = 10_000) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")
        self.per_second, self.burst = per_second, burst
        self._buckets: dict[str, _Bucket] = {}
        self._capacity = capacity
        self.refused = 0

    def take(self, key: str, at: float) -> float | None:
        """Spend one request of `key` at `at`; None when allowed, else seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._capacity:
                self._forget_full(at)
            bucket = self._buckets[key] = _Bucket(float(self.burst), at)
        bucket.tokens = min(self.burst, bucket.tokens + (at - bucket.at) * self.per_second)
        bucket.at = at
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        self.refused += 1
        return (1.0 - bucket.tokens) / self.per_second

    def _forget_full(self, at: float) -> None:
        """Bounded memory: a bucket that has refilled holds nothing worth keeping."""
        for key, b in list(self._buckets.items()):
            if b.tokens + (at - b.at) * self.per_second >= self.burst:
                del self._buckets[key]
        if len(self._buckets) >= self._capacity:
            self._buckets.clear()


def retry_after(wait: float) -> str:
    """`Retry-After` in whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))
