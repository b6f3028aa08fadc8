"""Telemetry sinks: InfluxDB 2.x through influxdb-client, or the embedded local store."""

from __future__ import annotations

from typing import Protocol

from gateway.readings import Sample


class SinkUnavailable(Exception):
    """The sink cannot take writes now; the caller keeps the batch and retries later."""


class SinkRejected(Exception):
    """The sink refused the batch itself (malformed); retrying the same batch cannot succeed."""


class TelemetrySink(Protocol):
    name: str

    async def write(self, samples: list[Sample]) -> None:
        """Store a batch or raise `SinkUnavailable` / `SinkRejected`; never half-store silently."""
        ...

    async def close(self) -> None: ...
