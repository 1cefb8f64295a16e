"""Runs, their flagged rows with verdicts, and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created", UTC_TIME, nullable=False),
        sa.Column("analyst", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_checksum", sa.String(64), nullable=False),
        sa.Column("data_name", sa.String(500), nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_scored", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("threshold_rule", sa.String(200), nullable=False),
        sa.Column("n_above", sa.Integer, nullable=False),
        sa.Column("n_flagged", sa.Integer, nullable=False),
    )
    op.create_table(
        "flagged_rows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("uuid", sa.Text, nullable=False),
        sa.Column("error", sa.Float, nullable=False),
        sa.Column("top_field", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("time_processed", UTC_TIME, nullable=True),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("verdict_reason", sa.String(200), nullable=False),
        sa.Column("verdict_note", sa.Text, nullable=False),
        sa.Column("verdict_analyst", sa.String(200), nullable=False),
        sa.Column("verdict_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_flagged_rows_run_uuid", "flagged_rows", ["run_id", "uuid"])
    op.create_index("ix_flagged_rows_sender", "flagged_rows", ["sender"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("analyst", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("old", sa.Text, nullable=False),
        sa.Column("new", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_run", "audit", ["run_id"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("flagged_rows")
    op.drop_table("runs")
