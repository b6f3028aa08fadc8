"""Process settings from `PROPWATCH_*` environment variables; secrets live here only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Built once at start and passed down; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="PROPWATCH_", extra="ignore")

    var_dir: Path = Path("var")
    mqtt_url: str | None = None
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None
    influx_url: str | None = None
    influx_token: SecretStr = SecretStr("")
    influx_org: str = "propwatch"
    influx_bucket: str = "propwatch"
    database_url: str | None = None
    # The connection pool of each process (连接池): connections kept, extra ones under load, and
    # the seconds a request waits for a free one before the API answers 503 with Retry-After.
    # On PostgreSQL size + overflow, times the processes, must stay under max_connections.
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_token: SecretStr | None = None
    # 限流 per API token, in the memory of each API process: a sustained rate (requests per
    # second, 0 turns the limit off) and the burst allowed above it; past it 429 + Retry-After.
    api_rate_limit: float = Field(default=100.0, ge=0)
    api_rate_burst: int = Field(default=200, ge=1)
    # Internal hosts webhooks may be posted to, comma-separated names or IP literals exactly as
    # in the URL; every other target must resolve to public addresses only.
    webhook_allow_hosts: Annotated[list[str], NoDecode] = []
    # Replicas of one service: a distinct MQTT client id each, and one shared-subscription group
    # (`$share/<group>/...`) so the broker hands every event to exactly one of them.
    instance_id: str | None = None
    mqtt_shared_group: str | None = None
    # Gateway store-and-forward (docs/configuration.md): the in-memory queue, batches, the durable
    # outbox under var_dir and its byte bound (past it the oldest telemetry is dropped, counted).
    gateway_queue_capacity: int = 100_000
    gateway_batch_size: int = 5000
    gateway_flush_interval: float = 1.0
    gateway_outbox_max_bytes: int = 1 << 30
    gateway_outbox_sync: Literal["normal", "full"] = "normal"
    # Report by exception: profile deadbands apply, and every point reports at least once per
    # heartbeat (seconds) even when it does not move.
    gateway_report_by_exception: bool = False
    gateway_heartbeat: float = 300.0
    # Prometheus text at http://host:port/metrics (and /healthz); unset: not served.
    gateway_metrics_host: str = "127.0.0.1"
    gateway_metrics_port: int | None = None

    # An alarm event older than this (seconds) when it reaches the maintenance service is late:
    # recorded and marked, it pages nobody and opens no emergency order by itself.
    late_event_after: float = 600.0
    # Events the maintenance consumer holds at most (queued and being applied); the broker keeps
    # the rest unacknowledged in the service's session until it has room.
    maintenance_queue_capacity: int = Field(default=1000, ge=1)

    # Notification channel secrets by the name a channel gives in the site file (robot keys,
    # access tokens, signing secrets, SMTP passwords), as JSON: {"wecom-a-key": "…"}.
    notify_secrets: dict[str, SecretStr] = {}

    @field_validator("webhook_allow_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    def resolved_database_url(self) -> str:
        """SQLite under `var/` unless a database URL is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'propwatch.db').as_posix()}"
