"""Experiments (arms on decisions), conversion rules, outcome values, links from sent
messages to the decisions that caused them; trigger kinds and throttles (`spec`), the
persisted schedule of time-window triggers, the last send of each trigger per customer.

Decisions and outcomes stored before keep NULL in the new columns: no experiment,
no value.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("triggers", sa.Column("spec", sa.JSON, nullable=True))
    op.add_column("decisions", sa.Column("experiment_id", sa.String(63), nullable=True))
    op.add_column("decisions", sa.Column("arm_id", sa.String(63), nullable=True))
    op.add_column("decisions", sa.Column("control", sa.Boolean, nullable=True))
    op.create_index("ix_decisions_experiment", "decisions", ["workspace", "experiment_id"])
    op.add_column("outcomes", sa.Column("value", sa.Double, nullable=True))
    op.create_table(
        "experiments",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("experiment_id", sa.String(63), primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("action_ids", sa.JSON, nullable=False),
        sa.Column("arms", sa.JSON, nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "conversion_rules",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("rule_id", sa.String(63), primary_key=True),
        sa.Column("action_id", sa.String(63), nullable=False),
        sa.Column("event_name", sa.String(256), nullable=False),
        sa.Column("window_seconds", sa.BigInteger, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_conversion_rules_event", "workspace", "event_name"),
    )
    op.create_table(
        "sent_messages",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("message", sa.String(300), primary_key=True),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("customer", sa.String(300), nullable=False),
        sa.Column("action", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_sent_messages_customer", "workspace", "customer"),
    )
    op.create_table(
        "trigger_schedules",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("trigger_id", sa.String(63), primary_key=True),
        sa.Column("customer", sa.String(300), primary_key=True),
        sa.Column("anchor_date", sa.String(10), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_trigger_schedules_due", "workspace", "fired_time", "fire_time"),
        sa.Index("ix_trigger_schedules_customer", "workspace", "customer"),
    )
    op.create_table(
        "trigger_fires",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("trigger_id", sa.String(63), primary_key=True),
        sa.Column("customer", sa.String(300), primary_key=True),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trigger_fires")
    op.drop_table("trigger_schedules")
    op.drop_column("triggers", "spec")
    op.drop_table("sent_messages")
    op.drop_table("conversion_rules")
    op.drop_table("experiments")
    op.drop_column("outcomes", "value")
    op.drop_index("ix_decisions_experiment", table_name="decisions")
    op.drop_column("decisions", "control")
    op.drop_column("decisions", "arm_id")
    op.drop_column("decisions", "experiment_id")
