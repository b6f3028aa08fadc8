"""Process settings from `PROPWATCH_*` environment variables; secrets live here only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, JsonValue, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

COMMANDS = ("demo", "gateway", "maintenance", "api", "simulate", "db")


def _read_by(commands: str, zh: str) -> dict[str, JsonValue]:
    """Which commands read a setting (`propwatch CMD --help` lists it) and its zh-CN text."""
    names: list[JsonValue] = list(COMMANDS if commands == "ALL" else commands.split())
    return {"commands": names, "zh": zh}


class Settings(BaseSettings):
    """Built once at start and passed down; nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="PROPWATCH_", extra="ignore")

    var_dir: Path = Field(
        default=Path("var"),
        description="state directory: SQLite database, outboxes, attachments, control sockets",
        json_schema_extra=_read_by(
            "ALL",
            "状态目录: SQLite 数据库、外发队列、附件、模拟器控制套接字",
        ),
    )
    # Sites as data (propwatch/site_directory.py): one central process serves every site file
    # of a folder; `--sites DIR` on the command line says the same.
    sites_dir: Path | None = Field(
        default=None,
        description="folder of site files (*.yaml) served by one process, as --sites DIR",
        json_schema_extra=_read_by(
            "maintenance api", "站点文件目录 (*.yaml), 一个进程服务其中所有小区, 同 --sites DIR"
        ),
    )
    sites_rescan: float = Field(
        default=30.0,
        gt=0,
        le=86400,
        description="seconds between rescans of the site files (SIGHUP rescans at once)",
        json_schema_extra=_read_by(
            "maintenance api", "重新扫描站点文件的间隔秒数 (SIGHUP 立即扫描)"
        ),
    )
    mqtt_url: str | None = Field(
        default=None,
        description="MQTT broker, e.g. mqtt://127.0.0.1:1883 (unset: demo embeds one)",
        json_schema_extra=_read_by(
            "demo gateway maintenance simulate",
            "MQTT 代理地址, 如 mqtt://127.0.0.1:1883 (demo 未设时内置一个)",
        ),
    )
    mqtt_username: str | None = Field(
        default=None,
        description="MQTT user name",
        json_schema_extra=_read_by("demo gateway maintenance", "MQTT 用户名"),
    )
    mqtt_password: SecretStr | None = Field(
        default=None,
        description="MQTT password",
        json_schema_extra=_read_by("demo gateway maintenance", "MQTT 密码"),
    )
    mqtt_ca_file: Path | None = Field(
        default=None,
        description="CA file that verifies the broker's TLS certificate",
        json_schema_extra=_read_by("demo gateway maintenance", "校验 MQTT 代理 TLS 证书的 CA 文件"),
    )
    influx_url: str | None = Field(
        default=None,
        description="InfluxDB 2.x URL; unset: telemetry goes to the local store",
        json_schema_extra=_read_by("demo gateway api", "InfluxDB 2.x 地址; 未设时遥测存本地"),
    )
    influx_token: SecretStr = Field(
        default=SecretStr(""),
        description="InfluxDB token",
        json_schema_extra=_read_by("demo gateway api", "InfluxDB 令牌"),
    )
    influx_org: str = Field(
        default="propwatch",
        description="InfluxDB organisation",
        json_schema_extra=_read_by("demo gateway api", "InfluxDB 组织"),
    )
    influx_bucket: str = Field(
        default="propwatch",
        description="InfluxDB bucket",
        json_schema_extra=_read_by("demo gateway api", "InfluxDB 存储桶"),
    )
    # The trend's read side (gateway/sinks/reads.py): auto reads InfluxDB when influx_url is set,
    # else the local store; victoria-metrics takes InfluxDB writes but answers no Flux.
    telemetry_reader: Literal["auto", "influxdb", "victoriametrics", "local"] = Field(
        default="auto",
        description="telemetry store the API reads trends from: auto, influxdb, "
        "victoriametrics or local (auto: influxdb when PROPWATCH_INFLUX_URL is set, else local)",
        json_schema_extra=_read_by(
            "demo api",
            "趋势读取的遥测存储: auto、influxdb、victoriametrics 或 local "
            "(auto: 设了 PROPWATCH_INFLUX_URL 即 influxdb, 否则本地)",
        ),
    )
    telemetry_read_url: str | None = Field(
        default=None,
        description="URL trends are read from when not PROPWATCH_INFLUX_URL "
        "(e.g. vmselect: http://vmselect:8481/select/0/prometheus)",
        json_schema_extra=_read_by(
            "demo api", "读取趋势的地址, 不同于 PROPWATCH_INFLUX_URL 时设置 (如 vmselect)"
        ),
    )
    # victoria-metrics repeats the previous window over the range points newer than its
    # `-search.latencyOffset`: the reader reads those windows apart (gateway/sinks/victoria.py)
    telemetry_read_latency: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="seconds of victoria-metrics' -search.latencyOffset (its default 30)",
        json_schema_extra=_read_by(
            "demo api", "victoria-metrics 的 -search.latencyOffset 秒数 (默认 30)"
        ),
    )
    database_url: str | None = Field(
        default=None,
        description="work-order database (postgresql+psycopg://user@host/db); unset: SQLite",
        json_schema_extra=_read_by(
            "demo maintenance api db",
            "工单数据库, 如 postgresql+psycopg://user@host/db; 未设时为 var/ 下的 SQLite",
        ),
    )
    # The connection pool of each process (连接池): connections kept, extra ones under load, and
    # the seconds a request waits for a free one before the API answers 503 with Retry-After.
    # On PostgreSQL size + overflow, times the processes, must stay under max_connections.
    database_pool_size: int = Field(
        default=10,
        ge=1,
        description="database connections kept per process",
        json_schema_extra=_read_by("demo maintenance api db", "每个进程保持的数据库连接数"),
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        description="extra connections under load",
        json_schema_extra=_read_by("demo maintenance api db", "负载高时额外的连接数"),
    )
    database_pool_timeout: float = Field(
        default=5.0,
        gt=0,
        description="seconds to wait for a free connection before answering 503",
        json_schema_extra=_read_by("demo maintenance api db", "等待空闲连接的秒数, 超过则 503"),
    )
    # uvloop's event loop (libuv, its transports in C) serves a request on a little less CPU than
    # asyncio's selector loop (about 5 %, `bench.api_request_costs --ab`); `asyncio` for a
    # platform without it
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="event loop of every service: uvloop, or asyncio's own",
        json_schema_extra=_read_by(
            "demo gateway maintenance api simulate", "事件循环: uvloop 或 asyncio"
        ),
    )
    api_host: str = Field(
        default="127.0.0.1",
        description="address the HTTP API listens on",
        json_schema_extra=_read_by("demo api", "HTTP API 监听地址"),
    )
    api_port: int = Field(
        default=8000,
        description="port of the HTTP API",
        json_schema_extra=_read_by("demo api", "HTTP API 端口"),
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="admin token (a random value); unset: one is generated at each start",
        json_schema_extra=_read_by("demo api", "管理员令牌 (随机值); 未设时每次启动生成"),
    )
    # 限流 per API token, in the memory of each API process: a sustained rate (requests per
    # second, 0 turns the limit off) and the burst allowed above it; past it 429 + Retry-After.
    api_rate_limit: float = Field(
        default=100.0,
        ge=0,
        description="requests per second per token, 0 for no limit",
        json_schema_extra=_read_by("demo api", "每个令牌每秒请求数上限, 0 为不限"),
    )
    api_rate_burst: int = Field(
        default=200,
        ge=1,
        description="burst allowed above the rate",
        json_schema_extra=_read_by("demo api", "限流允许的突发请求数"),
    )
    attachment_video_max_mb: int = Field(
        default=50,
        ge=1,
        le=2048,
        description="largest video attachment in MB (photos and PDFs stay at 8 MB; 413 beyond)",
        json_schema_extra=_read_by("demo api", "视频附件上限 (MB), 照片和 PDF 仍为 8 MB"),
    )
    # Internal hosts webhooks may be posted to, comma-separated names or IP literals exactly as
    # in the URL; every other target must resolve to public addresses only.
    webhook_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="internal hosts webhooks may be posted to, comma-separated",
        json_schema_extra=_read_by("demo api", "允许 webhook 投递的内网主机, 逗号分隔"),
    )
    # The address residents' phones and staff reach the pages at (behind the reverse proxy):
    # the QR labels (扫码报修, 巡更签到) hold links that start with it.
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="public address of the pages, for the links on QR labels "
        "(https://wuye.example.com); unset: the address a label sheet was asked at",
        json_schema_extra=_read_by(
            "demo api", "页面的公网地址, 二维码标签中的链接以它开头; 未设时用请求的地址"
        ),
    )
    # Replicas of one service: a distinct MQTT client id each, and one shared-subscription group
    # (`$share/<group>/...`) so the broker hands every event to exactly one of them.
    instance_id: str | None = Field(
        default=None,
        description="replica id (a distinct MQTT client id each)",
        json_schema_extra=_read_by(
            "maintenance gateway", "副本编号 (各副本、各网关实例的 MQTT 客户端 ID 不同)"
        ),
    )
    mqtt_shared_group: str | None = Field(
        default=None,
        description="shared-subscription group of the replicas",
        json_schema_extra=_read_by("maintenance", "副本共享订阅组名"),
    )
    # MQTT flow control: QoS 1 messages the gateway may hold unacknowledged (three quarters of it
    # and the batch is written at once, not at its deadline). At most the broker's in-flight window
    # (Mosquitto max_inflight_messages, 20 by default; EMQX max_inflight, 32): a broker drops
    # what it holds for a session past its queue limit.
    gateway_mqtt_receive_window: int = Field(
        default=20,
        ge=1,
        le=65535,
        description="MQTT messages held unacknowledged before the batch is cut at once",
        json_schema_extra=_read_by("demo gateway", "未确认的 MQTT 消息达到此数即刻写入"),
    )
    # Gateway store-and-forward (docs/configuration.md): the in-memory queue, batches, the durable
    # outbox under var_dir and its byte bound (past it the oldest telemetry is dropped, counted).
    gateway_queue_capacity: int = Field(
        default=100_000,
        description="gateway in-memory queue capacity (samples)",
        json_schema_extra=_read_by("demo gateway", "网关内存队列容量 (条)"),
    )
    gateway_batch_size: int = Field(
        default=5000,
        description="samples per write batch",
        json_schema_extra=_read_by("demo gateway", "每批写入的条数"),
    )
    gateway_flush_interval: float = Field(
        default=1.0,
        description="seconds between batch writes",
        json_schema_extra=_read_by("demo gateway", "批量写入间隔 (秒)"),
    )
    gateway_outbox_max_bytes: int = Field(
        default=1 << 30,
        description="byte bound of the on-disk outbox",
        json_schema_extra=_read_by("demo gateway", "磁盘外发队列上限 (字节)"),
    )
    gateway_outbox_sync: Literal["normal", "full"] = Field(
        default="normal",
        description="outbox sync: normal or full",
        json_schema_extra=_read_by("demo gateway", "外发队列落盘方式: normal 或 full"),
    )
    # Report by exception: profile deadbands apply, and every point reports at least once per
    # heartbeat (seconds) even when it does not move.
    gateway_report_by_exception: bool = Field(
        default=False,
        description="report by exception (profile deadbands)",
        json_schema_extra=_read_by("demo gateway", "变化上报 (按死区)"),
    )
    gateway_heartbeat: float = Field(
        default=300.0,
        description="seconds between reports of a point that does not move",
        json_schema_extra=_read_by("demo gateway", "变化上报时每点至少上报一次的间隔 (秒)"),
    )
    # Prometheus text at http://host:port/metrics (and /healthz); unset: not served.
    gateway_metrics_host: str = Field(
        default="127.0.0.1",
        description="address /metrics listens on",
        json_schema_extra=_read_by("demo gateway", "/metrics 监听地址"),
    )
    gateway_metrics_port: int | None = Field(
        default=None,
        description="port of /metrics; unset: not served",
        json_schema_extra=_read_by("demo gateway", "/metrics 端口; 未设时不提供"),
    )

    # An alarm event older than this (seconds) when it reaches the maintenance service is late:
    # recorded and marked, it pages nobody and opens no emergency order by itself.
    late_event_after: float = Field(
        default=600.0,
        description="seconds after which an alarm event is late (recorded, pages nobody)",
        json_schema_extra=_read_by("demo maintenance", "告警事件迟到的秒数 (迟到的只记录不派单)"),
    )
    # Events the maintenance consumer holds at most (queued and being applied); the broker keeps
    # the rest unacknowledged in the service's session until it has room.
    maintenance_queue_capacity: int = Field(
        default=1000,
        ge=1,
        description="events the maintenance consumer holds at most",
        json_schema_extra=_read_by("demo maintenance", "维护服务最多持有的事件数"),
    )
    # 扫码报修: the public report endpoint's limits and the residents' phones (个人信息保护法)
    resident_reports_per_phone: int = Field(
        default=5,
        ge=1,
        le=10_000,
        description="reports one phone number may send per hour through the scan page",
        json_schema_extra=_read_by("demo api", "同一手机号每小时扫码报修次数上限"),
    )
    resident_reports_per_address: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="reports one client address may send per hour through the scan page",
        json_schema_extra=_read_by("demo api", "同一客户端地址每小时扫码报修次数上限"),
    )
    resident_phone_retention_days: int = Field(
        default=180,
        ge=1,
        le=3650,
        description="days after an order closes before its reporters' phones are erased",
        json_schema_extra=_read_by("demo maintenance", "工单关闭后保留报修人电话的天数"),
    )
    resident_phone_key_file: Path | None = Field(
        default=None,
        description="Fernet key file encrypting reporters' phones (unset: var/resident-phone.key)",
        json_schema_extra=_read_by(
            "demo api", "加密报修人电话的密钥文件 (未设时 var/resident-phone.key)"
        ),
    )

    # Notification channel secrets by the name a channel gives in the site file (robot keys,
    # access tokens, signing secrets, SMTP passwords), as JSON: {"wecom-a-key": "…"}.
    notify_secrets: dict[str, SecretStr] = Field(
        default={},
        description='notification channel secrets as JSON: {"name": "value"}',
        json_schema_extra=_read_by("demo maintenance", '通知渠道密钥, JSON: {"名称": "值"}'),
    )

    @field_validator("webhook_allow_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @classmethod
    def read_by(cls, command: str) -> list[tuple[str, str, str]]:
        """(`PROPWATCH_NAME`, zh-CN text, English text) of every setting `command` reads."""
        out = []
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and command in (extra.get("commands") or []):  # type: ignore[operator]
                out.append((f"PROPWATCH_{name.upper()}", str(extra["zh"]), field.description or ""))
        return out

    def resolved_database_url(self) -> str:
        """SQLite under `var/` unless a database URL is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'propwatch.db').as_posix()}"
