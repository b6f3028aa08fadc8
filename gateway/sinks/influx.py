"""InfluxDB 2.x sink: pre-built line protocol through influxdb-client's synchronous write API.

Batching is ours (the writer hands over whole batches), so failed batches stay with us for the
outbox instead of being dropped after influxdb-client's own retries.
"""

from __future__ import annotations

import asyncio

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from gateway.readings import Sample, to_line
from gateway.sinks import SinkUnavailable


class InfluxSink:
    name = "influxdb"

    def __init__(
        self, url: str, token: str, org: str, bucket: str, timeout_ms: int = 10_000
    ) -> None:
        self.bucket = bucket
        self.org = org
        self.client = InfluxDBClient(
            url=url, token=token, org=org, timeout=timeout_ms, enable_gzip=True, retries=0
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def write_lines(self, lines: list[str]) -> None:
        try:
            self.write_api.write(
                self.bucket,
                self.org,
                lines,
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]
            )
        except (ApiException, HTTPError, OSError) as exc:
            raise SinkUnavailable(f"InfluxDB write failed: {exc}") from exc

    async def write(self, samples: list[Sample]) -> None:
        lines = [to_line(s) for s in samples]
        await asyncio.to_thread(self.write_lines, lines)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)
