"""The one contract between gateway and maintenance: versioned JSON events on MQTT.

Both sides import these models; nobody copies them. A change that is not backward compatible
bumps `SCHEMA_VERSION` and gets a migration note in the changelog.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
TOPIC_ROOT = "propwatch"


class Severity(StrEnum):
    """Alarm severity, most urgent first."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class AlarmAction(StrEnum):
    RAISE = "raise"
    CLEAR = "clear"


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""Every timestamp in an event: with an offset on the wire (a naive one is refused), UTC inside."""


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = 1  # SCHEMA_VERSION
    event_id: str = Field(default_factory=lambda: uuid4().hex, min_length=1, max_length=64)
    site_id: str
    occurred_at: UtcTime


class AlarmEvent(_Event):
    """A raise or clear of one alarm episode on one asset.

    `episode_id` is the same for the raise and the clear of one episode, and for any repeated
    raise of it, so a consumer can be idempotent.
    """

    type: Literal["alarm"] = "alarm"
    action: AlarmAction
    episode_id: str
    asset_id: str
    device_id: str | None = None
    alarm_type: str
    severity: Severity
    rule_id: str
    message: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class ActiveCondition(BaseModel):
    """One alarm condition the gateway holds active on an asset: its open episode."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    episode_id: str
    alarm_type: str
    severity: Severity
    rule_id: str
    since: UtcTime
    device_id: str | None = None
    message: str = ""


class AssetStateEvent(_Event):
    """The latest state of an asset (retained): online status, the last values and, as the
    truth the maintenance side reconciles its alarm list to, every active condition.

    `conditions` is None from a gateway that does not send snapshots (older than this field);
    a list, even empty, is the complete set of the asset's open episodes at `occurred_at`.
    """

    type: Literal["asset_state"] = "asset_state"
    asset_id: str
    device_id: str | None = None
    online: bool = True
    values: dict[str, float | int | bool | str | None] = Field(default_factory=dict)
    active_alarms: list[str] = Field(default_factory=list)
    conditions: list[ActiveCondition] | None = None


Event = Annotated[AlarmEvent | AssetStateEvent, Field(discriminator="type")]


class _EventEnvelope(BaseModel):
    event: Event


def parse_event(payload: bytes | str) -> AlarmEvent | AssetStateEvent:
    """Parse one event payload; raises `pydantic.ValidationError` on anything malformed."""
    return _EventEnvelope.model_validate_json(
        b'{"event":' + (payload.encode() if isinstance(payload, str) else payload) + b"}"
    ).event


def alarm_topic(site_id: str, asset_id: str) -> str:
    return f"{TOPIC_ROOT}/{site_id}/alarms/{asset_id}"


def state_topic(site_id: str, asset_id: str) -> str:
    return f"{TOPIC_ROOT}/{site_id}/state/{asset_id}"


ALARM_SUBSCRIPTION = f"{TOPIC_ROOT}/+/alarms/#"
