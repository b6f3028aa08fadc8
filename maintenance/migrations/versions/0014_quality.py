"""物业质量监控: findings (巡查发现), their rectifications (整改) with the audited steps, the
rungs of the 督促 ladder fired for each, and scored inspections (品质检查) with their deductions

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from maintenance.db import UtcDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("asset_code", sa.String(length=64), nullable=True),
        sa.Column("place_id", sa.String(length=64), nullable=True),
        sa.Column("building", sa.String(length=100), nullable=True),
        sa.Column("floor", sa.String(length=20), nullable=True),
        sa.Column("zone_code", sa.String(length=64), nullable=False),
        sa.Column("type_id", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding")),
    )
    op.create_index("ix_finding_site_reported", "finding", ["site_id", "reported_at"], unique=False)
    op.create_table(
        "rectification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("zone_code", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("requirement", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("deadline_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("rectified_at", UtcDateTime(), nullable=True),
        sa.Column("passed_at", UtcDateTime(), nullable=True),
        sa.Column("recheck_failures", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["finding.id"], name=op.f("fk_rectification_finding_id_finding")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_rectification_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification")),
        sa.UniqueConstraint("finding_id", name=op.f("uq_rectification_finding_id")),
    )
    op.create_index(op.f("ix_rectification_assignee"), "rectification", ["assignee"], unique=False)
    op.create_index(
        "ix_rectification_site_status",
        "rectification",
        ["site_id", "status", "deadline_at"],
        unique=False,
    )
    op.create_table(
        "rectification_escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rectification_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("fired_at", UtcDateTime(), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["rectification_id"],
            ["rectification.id"],
            name=op.f("fk_rectification_escalation_rectification_id_rectification"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_escalation")),
        sa.UniqueConstraint(
            "rectification_id", "step_id", name=op.f("uq_rectification_escalation_rectification_id")
        ),
    )
    op.create_index(
        op.f("ix_rectification_escalation_rectification_id"),
        "rectification_escalation",
        ["rectification_id"],
        unique=False,
    )
    op.create_table(
        "rectification_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rectification_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rectification_id"],
            ["rectification.id"],
            name=op.f("fk_rectification_step_rectification_id_rectification"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_step")),
    )
    op.create_index(
        op.f("ix_rectification_step_rectification_id"),
        "rectification_step",
        ["rectification_id"],
        unique=False,
    )

    op.create_table(
        "inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("sheet_id", sa.String(length=64), nullable=False),
        sa.Column("sheet_name", sa.String(length=100), nullable=False),
        sa.Column("zone_code", sa.String(length=64), nullable=True),
        sa.Column("inspector", sa.String(length=64), nullable=False),
        sa.Column("inspected_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("maximum", sa.Float(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection")),
    )
    op.create_index(
        "ix_inspection_site_inspected", "inspection", ["site_id", "inspected_at"], unique=False
    )
    op.create_table(
        "inspection_deduction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["finding.id"], name=op.f("fk_inspection_deduction_finding_id_finding")
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspection.id"],
            name=op.f("fk_inspection_deduction_inspection_id_inspection"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_deduction")),
        sa.UniqueConstraint("finding_id", name=op.f("uq_inspection_deduction_finding_id")),
    )
    op.create_index(
        op.f("ix_inspection_deduction_inspection_id"),
        "inspection_deduction",
        ["inspection_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("inspection_deduction")
    op.drop_table("inspection")
    op.drop_table("rectification_escalation")
    op.drop_table("rectification_step")
    op.drop_table("rectification")
    op.drop_table("finding")
