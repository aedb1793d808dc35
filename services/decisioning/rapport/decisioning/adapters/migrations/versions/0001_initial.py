"""Actions, triggers, decisions, outcomes and signal cursors.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("action_id", sa.String(63), primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("lever", sa.Double, nullable=False),
        sa.Column("base_propensity", sa.Double, nullable=False),
        sa.Column("eligibility", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "triggers",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("trigger_id", sa.String(63), primary_key=True),
        sa.Column("event_name", sa.String(256), nullable=False),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("action_id", sa.String(63), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_triggers_event", "triggers", ["workspace", "event_name"])
    op.create_index("ix_triggers_action", "triggers", ["workspace", "action_id"])
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(32), primary_key=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer", sa.String(300), nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outcomes",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("outcome_id", sa.String(32), primary_key=True),
        sa.Column("decision_id", sa.String(32), nullable=True),
        sa.Column("customer", sa.String(300), nullable=False),
        sa.Column("action", sa.String(300), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("outcome_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outcomes_decision", "outcomes", ["decision_id"])
    op.create_table(
        "signal_cursors",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signal_cursors")
    op.drop_index("ix_outcomes_decision", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_table("decisions")
    op.drop_index("ix_triggers_action", table_name="triggers")
    op.drop_index("ix_triggers_event", table_name="triggers")
    op.drop_table("triggers")
    op.drop_table("actions")
