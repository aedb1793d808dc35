"""SQLAlchemy Core tables of the decisioning service (kept in step with migrations/)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("action_id", sa.String(63), primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    # Channel values in the action's order, e.g. ["email", "sms"].
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

triggers = sa.Table(
    "triggers",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("trigger_id", sa.String(63), primary_key=True),
    sa.Column("event_name", sa.String(256), nullable=False),
    sa.Column("condition", sa.Text, nullable=False),
    sa.Column("action_id", sa.String(63), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    # The runner looks triggers up by the event name of each signal.
    sa.Index("ix_triggers_event", "workspace", "event_name"),
    sa.Index("ix_triggers_action", "workspace", "action_id"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("workspace", sa.String(128), nullable=False),
    sa.Column("customer", sa.String(300), nullable=False),
    # The ranked actions with their score parts and explanations (no personal data).
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    # Since 0002. The actions left out, with reasons; NULL in rows written before.
    sa.Column("excluded_actions", sa.JSON, nullable=True),
    # The channel asked for; NULL means any.
    sa.Column("channel", sa.String(16), nullable=True),
    # Empty for Decide; the trigger's name for a triggered decision. NULL (read
    # as empty) in rows written before: all of them came from Decide.
    sa.Column("source", sa.String(300), nullable=True),
    # ListDecisions: newest first, in a workspace or for one customer.
    sa.Index("ix_decisions_time", "workspace", "create_time", "decision_id"),
    sa.Index("ix_decisions_customer_time", "workspace", "customer", "create_time", "decision_id"),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("outcome_id", sa.String(32), primary_key=True),
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("customer", sa.String(300), nullable=False),
    sa.Column("action", sa.String(300), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=True),
    sa.Column("outcome_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_outcomes_decision", "decision_id"),
    # ListOutcomes: newest first (since 0002).
    sa.Index("ix_outcomes_time", "workspace", "create_time", "outcome_id"),
)

signal_cursors = sa.Table(
    "signal_cursors",
    metadata,
    # The profile signal log of one workspace, as far as triggers handled it.
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)
