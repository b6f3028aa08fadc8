"""API tables: access tokens, audit log, idempotency records, ticket links, webhooks;
indexes for the filtered work-order list

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import maintenance.db

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_audit")),
    )
    op.create_index(op.f("ix_api_audit_actor"), "api_audit", ["actor"], unique=False)
    op.create_index(op.f("ix_api_audit_at"), "api_audit", ["at"], unique=False)
    op.create_table(
        "api_idempotency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint("actor", "key", name=op.f("uq_api_idempotency_actor")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=True),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", maintenance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", maintenance.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_webhook_delivery_subscription_id")
        ),
    )
    op.create_index(
        "ix_webhook_delivery_pending",
        "webhook_delivery",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_webhook_delivery_subscription_id"),
        "webhook_delivery",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "work_order_external_ref",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_external_ref_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_external_ref")),
        sa.UniqueConstraint(
            "site_id", "external_id", name=op.f("uq_work_order_external_ref_site_id")
        ),
        sa.UniqueConstraint("work_order_id", name=op.f("uq_work_order_external_ref_work_order_id")),
    )
    op.create_index(
        "ix_work_order_list_assignee", "work_order", ["assignee", "reported_at", "id"], unique=False
    )
    op.create_index(
        "ix_work_order_list_due",
        "work_order",
        ["site_id", "resolve_due", "id"],
        unique=False,
    )
    op.create_index(
        "ix_work_order_list_site", "work_order", ["site_id", "reported_at", "id"], unique=False
    )
    op.create_index(
        "ix_work_order_list_status",
        "work_order",
        ["site_id", "status", "reported_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_list_status", table_name="work_order")
    op.drop_index("ix_work_order_list_site", table_name="work_order")
    op.drop_index("ix_work_order_list_due", table_name="work_order")
    op.drop_index("ix_work_order_list_assignee", table_name="work_order")
    op.drop_table("work_order_external_ref")
    op.drop_index(op.f("ix_webhook_delivery_subscription_id"), table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_pending", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_subscription")
    op.drop_table("api_token")
    op.drop_table("api_idempotency")
    op.drop_index(op.f("ix_api_audit_at"), table_name="api_audit")
    op.drop_index(op.f("ix_api_audit_actor"), table_name="api_audit")
    op.drop_table("api_audit")
