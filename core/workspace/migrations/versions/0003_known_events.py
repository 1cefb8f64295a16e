"""Known events (declared time windows); runs count the rows above threshold they kept out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "known_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("starts", UTC_TIME, nullable=False),
        sa.Column("ends", UTC_TIME, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created", UTC_TIME, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("removed_at", UTC_TIME, nullable=True),
        sa.Column("removed_by", sa.String(200), nullable=False),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("n_in_events", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("n_in_events")
    op.drop_table("known_events")
