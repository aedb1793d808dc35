"""Trigger activities: what each trigger did for each customer on each signal (sent,
skipped or failed, and why), kept for the retention setting.

Signals handled before keep no activity.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_activities",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("trigger_id", sa.String(63), primary_key=True),
        sa.Column("activity_id", sa.String(32), primary_key=True),
        sa.Column("customer", sa.String(300), nullable=False),
        sa.Column("signal_kind", sa.String(24), nullable=False),
        sa.Column("signal_cursor", sa.Text, nullable=False),
        sa.Column("event_message_id", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=True),
        sa.Column("message", sa.String(300), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_trigger_activities_time",
        "trigger_activities",
        ["workspace", "create_time", "activity_id"],
    )
    op.create_index(
        "ix_trigger_activities_trigger",
        "trigger_activities",
        ["workspace", "trigger_id", "create_time", "activity_id"],
    )
    op.create_index(
        "ix_trigger_activities_customer",
        "trigger_activities",
        ["workspace", "customer", "create_time", "activity_id"],
    )


def downgrade() -> None:
    op.drop_table("trigger_activities")
