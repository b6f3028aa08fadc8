"""initial schema: registry, alarms, work orders, escalations, notifications

The first revision of the chain in this folder; each later one names its parent in
`down_revision` (0001 <- 0002 <- ...), and `tests/maintenance/test_migrations.py` fails when the
models hold a table or column that no revision creates.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 18:51:30.858707
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maintenance.db

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("retired_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_person_site_id")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_site_id"), ["site_id"], unique=False)

    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_event")),
    )
    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("loaded_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
        sa.UniqueConstraint("code", name=op.f("uq_site_code")),
    )
    op.create_table(
        "zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("technicians", sa.JSON(), nullable=False),
        sa.Column("security", sa.JSON(), nullable=False),
        sa.Column("service", sa.JSON(), nullable=False),
        sa.Column("supervisor", sa.String(length=64), nullable=True),
        sa.Column("retired_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_zone_site_id")),
    )
    with op.batch_alter_table("zone", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zone_site_id"), ["site_id"], unique=False)

    op.create_table(
        "asset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("building", sa.String(length=100), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("install_date", sa.Date(), nullable=True),
        sa.Column("warranty_end", sa.Date(), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("retired_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("state_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["zone_id"], ["zone.id"], name=op.f("fk_asset_zone_id_zone")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_asset_site_id")),
    )
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_asset_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_asset_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "building",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("retired_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["zone_id"], ["zone.id"], name=op.f("fk_building_zone_id_zone")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_building_site_id")),
    )
    with op.batch_alter_table("building", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_building_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_building_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "work_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=300), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("alarm_type", sa.String(length=64), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("zone_code", sa.String(length=64), nullable=True),
        sa.Column("reported_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("respond_due", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("arrive_due", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolve_due", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revisit_due", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("chattering", sa.Boolean(), nullable=False),
        sa.Column("dispatched_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("verified_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revisited_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("held_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.String(length=300), nullable=True),
        sa.Column("held_from", sa.String(length=16), nullable=True),
        sa.Column("paused_seconds", sa.Float(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("priority_raised_from", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["asset.id"], name=op.f("fk_work_order_asset_id_asset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order")),
        sa.UniqueConstraint("code", name=op.f("uq_work_order_code")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_work_order_dedup_key")),
        sa.UniqueConstraint("source_key", name=op.f("uq_work_order_source_key")),
    )
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_asset_id"), ["asset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_assignee"), ["assignee"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_status"), ["status"], unique=False)

    op.create_table(
        "alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("episode_id", sa.String(length=300), nullable=False),
        sa.Column("asset_code", sa.String(length=64), nullable=False),
        sa.Column("alarm_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raised_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("raise_count", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("shelved_by", sa.String(length=64), nullable=True),
        sa.Column("shelved_until", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("shelve_reason", sa.String(length=300), nullable=True),
        sa.Column("chattering", sa.Boolean(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_order.id"], name=op.f("fk_alarm_work_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
        sa.UniqueConstraint("episode_id", name=op.f("uq_alarm_episode_id")),
    )
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_asset_code"), ["asset_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_work_order_id"), ["work_order_id"], unique=False)

    op.create_table(
        "work_order_escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("limit_name", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("due_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_escalation_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_escalation")),
        sa.UniqueConstraint(
            "work_order_id", "step_id", name=op.f("uq_work_order_escalation_work_order_id")
        ),
    )
    with op.batch_alter_table("work_order_escalation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_order_escalation_work_order_id"), ["work_order_id"], unique=False
        )

    op.create_table(
        "work_order_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_transition_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_transition")),
    )
    with op.batch_alter_table("work_order_transition", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_order_transition_work_order_id"), ["work_order_id"], unique=False
        )

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("delivered_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.id"], name=op.f("fk_notification_alarm_id_alarm")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_notification_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notification_dedup_key")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_recipient"), ["recipient"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_topic"), ["topic"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notification_work_order_id"), ["work_order_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_notification_topic"))
        batch_op.drop_index(batch_op.f("ix_notification_site_id"))
        batch_op.drop_index(batch_op.f("ix_notification_recipient"))

    op.drop_table("notification")
    with op.batch_alter_table("work_order_transition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_transition_work_order_id"))

    op.drop_table("work_order_transition")
    with op.batch_alter_table("work_order_escalation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_escalation_work_order_id"))

    op.drop_table("work_order_escalation")
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_site_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_asset_code"))

    op.drop_table("alarm")
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_status"))
        batch_op.drop_index(batch_op.f("ix_work_order_site_id"))
        batch_op.drop_index(batch_op.f("ix_work_order_assignee"))
        batch_op.drop_index(batch_op.f("ix_work_order_asset_id"))

    op.drop_table("work_order")
    with op.batch_alter_table("building", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_building_zone_id"))
        batch_op.drop_index(batch_op.f("ix_building_site_id"))

    op.drop_table("building")
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_zone_id"))
        batch_op.drop_index(batch_op.f("ix_asset_site_id"))
        batch_op.drop_index(batch_op.f("ix_asset_kind"))

    op.drop_table("asset")
    with op.batch_alter_table("zone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zone_site_id"))

    op.drop_table("zone")
    op.drop_table("site")
    op.drop_table("processed_event")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_site_id"))

    op.drop_table("person")
