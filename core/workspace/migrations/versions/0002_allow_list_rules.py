"""Allow-list rules; flagged rows remember the rule that suppressed them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("expires", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(200), nullable=False),
    )
    with op.batch_alter_table("flagged_rows") as batch:
        batch.add_column(sa.Column("suppressed_by", sa.Integer, nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("n_suppressed", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("n_suppressed")
    with op.batch_alter_table("flagged_rows") as batch:
        batch.drop_column("suppressed_by")
    op.drop_table("rules")
