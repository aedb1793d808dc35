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
    # Since 0003; NULL in rows written before (read as no group, no treatment, no tag,
    # no rule). The group's id is '' when the action has none.
    sa.Column("group_id", sa.String(63), nullable=True),
    # [[channel, [subject, text_body, html_body]], ...].
    sa.Column("treatments", sa.JSON, nullable=True),
    sa.Column("tags", sa.JSON, nullable=True),
    sa.Column("applicability", sa.Text, nullable=True),
    sa.Column("suitability", sa.Text, nullable=True),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_actions_group", "workspace", "group_id"),
)

action_groups = sa.Table(
    "action_groups",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("group_id", sa.String(63), primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("issue", sa.String(64), nullable=False),
    sa.Column("eligibility", sa.Text, nullable=False),
    sa.Column("applicability", sa.Text, nullable=False),
    sa.Column("suitability", sa.Text, nullable=False),
    sa.Column("lever", sa.Double, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=True),
)

# The draft's settings; no row means the defaults.
decision_settings = sa.Table(
    "decision_settings",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# Published configurations, whole; the highest version of a workspace is live.
config_versions = sa.Table(
    "config_versions",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    # For a rollback: the version whose content was published again.
    sa.Column("source_version", sa.Integer, nullable=True),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("action_count", sa.Integer, nullable=False),
    sa.Column("group_count", sa.Integer, nullable=False),
    sa.Column("trigger_count", sa.Integer, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

# Contacts counted against the contact limits: actions returned or sent on a channel
# that sends. Read under the customer's advisory lock, so replicas never exceed a limit.
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("action", sa.String(300), primary_key=True),
    sa.Column("customer", sa.String(300), nullable=False),
    # In the key: a best-channel send holds a contact on each channel offered to delivery
    # until the channel it chose is known (channel_offer.py).
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("contact_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_contacts_customer_time", "workspace", "customer", "contact_time"),
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
    # Since 0003; NULL in rows written before.
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=True),
    # The runner looks triggers up by the event name of each signal.
    sa.Index("ix_triggers_event", "workspace", "event_name"),
    sa.Index("ix_triggers_action", "workspace", "action_id"),
    # Since 0005: kind, segment, life stage, date trait, offsets, throttle (Trigger.spec);
    # NULL for a plain event trigger (and in rows written before).
    sa.Column("spec", sa.JSON, nullable=True),
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
    # Since 0003: the configuration version decided with; NULL for none.
    sa.Column("config_version", sa.Integer, nullable=True),
    # ListDecisions: newest first, in a workspace or for one customer.
    sa.Index("ix_decisions_time", "workspace", "create_time", "decision_id"),
    sa.Index("ix_decisions_customer_time", "workspace", "customer", "create_time", "decision_id"),
    # Since 0004: {"model": name, "features": {name: value}, "shadow": [[model, action,
    # propensity], ...]}; NULL when no model scored (and in rows written before).
    sa.Column("scoring", sa.JSON, nullable=True),
    # Since 0005: the experiment and arm; NULL for none (and in rows written before).
    sa.Column("experiment_id", sa.String(63), nullable=True),
    sa.Column("arm_id", sa.String(63), nullable=True),
    sa.Column("control", sa.Boolean, nullable=True),
    sa.Index("ix_decisions_experiment", "workspace", "experiment_id"),
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
    # Suppression rules read a customer's recent outcomes (since 0003).
    sa.Index("ix_outcomes_customer_time", "workspace", "customer", "outcome_time"),
    # Since 0005; NULL (read as 0) in rows written before.
    sa.Column("value", sa.Double, nullable=True),
)

signal_cursors = sa.Table(
    "signal_cursors",
    metadata,
    # The profile signal log of one workspace, as far as triggers handled it.
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0005. Experiments take effect at once (not part of the versioned configuration).
experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("experiment_id", sa.String(63), primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    # Action ids; [] means every action.
    sa.Column("action_ids", sa.JSON, nullable=False),
    # [[arm_id, strategy, weight], ...] in the experiment's order.
    sa.Column("arms", sa.JSON, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0005: events that count as conversions of decisions about an action.
conversion_rules = sa.Table(
    "conversion_rules",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("rule_id", sa.String(63), primary_key=True),
    sa.Column("action_id", sa.String(63), nullable=False),
    sa.Column("event_name", sa.String(256), nullable=False),
    sa.Column("window_seconds", sa.BigInteger, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_conversion_rules_event", "workspace", "event_name"),
)

# Since 0005: the messages triggers had delivery send, by delivery's name, so that
# delivery's status events become outcomes of the decision that caused the send.
sent_messages = sa.Table(
    "sent_messages",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("message", sa.String(300), primary_key=True),
    sa.Column("decision_id", sa.String(32), nullable=False),
    sa.Column("customer", sa.String(300), nullable=False),
    sa.Column("action", sa.String(300), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_sent_messages_customer", "workspace", "customer"),
)

# Since 0004. Models scoring propensities; they take effect at once (not versioned with
# the decision configuration). `spec`: kind, mode, features, dimensions... (JSON).
models = sa.Table(
    "models",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("model_id", sa.String(63), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    # An ONNX model's serialized graph; NULL for a bandit.
    sa.Column("onnx_model", sa.LargeBinary, nullable=True),
    # Bumped by every change of the spec (replicas reload on a change).
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0004: a bandit's sufficient statistics per action (float64 arrays, little
# endian), added to under a row lock so that no replica's update is lost.
model_statistics = sa.Table(
    "model_statistics",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("model_id", sa.String(63), primary_key=True),
    sa.Column("action_id", sa.String(63), primary_key=True),
    sa.Column("xtx", sa.LargeBinary, nullable=False),
    sa.Column("xr", sa.LargeBinary, nullable=False),
    sa.Column("xsum", sa.LargeBinary, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0008: each observation an outcome added to a bandit's statistics, with its x
# (float64 array, little endian), so that erasing the customer subtracts it exactly.
# Dropped with the model's statistics (reset or deletion).
model_contributions = sa.Table(
    "model_contributions",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("outcome_id", sa.String(32), primary_key=True),
    sa.Column("model_id", sa.String(63), primary_key=True),
    sa.Column("action_id", sa.String(63), nullable=False),
    sa.Column("customer", sa.String(300), nullable=False),
    sa.Column("decision_id", sa.String(32), nullable=False),
    sa.Column("x", sa.LargeBinary, nullable=False),
    sa.Column("exposed", sa.Boolean, nullable=False),
    sa.Column("reward", sa.Double, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_model_contributions_customer", "workspace", "customer", "create_time"),
    sa.Index("ix_model_contributions_model", "workspace", "model_id"),
)

# Since 0005: the next firing of each time-window trigger per customer, scheduled when a
# trait-changed signal carries the date; fired_time is set once it fired (or was dropped).
trigger_schedules = sa.Table(
    "trigger_schedules",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("trigger_id", sa.String(63), primary_key=True),
    sa.Column("customer", sa.String(300), primary_key=True),
    # The trait's date (YYYY-MM-DD) the firing derives from.
    sa.Column("anchor_date", sa.String(10), nullable=False),
    sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("fired_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    # Since 0006: until when a replica holds the due firing (NULL: unclaimed), and the
    # customer's IANA zone it was scheduled in (NULL: UTC).
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=True),
    sa.Index("ix_trigger_schedules_due", "workspace", "fired_time", "fire_time"),
    sa.Index("ix_trigger_schedules_customer", "workspace", "customer"),
)

# Since 0005: when each trigger last sent to each customer (trigger throttles).
trigger_fires = sa.Table(
    "trigger_fires",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("trigger_id", sa.String(63), primary_key=True),
    sa.Column("customer", sa.String(300), primary_key=True),
    sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0009: the customers erased (EraseCustomerDecisions), kept so that a write that
# read the customer before the erasure refuses them (erased_customers.py).
erased_customers = sa.Table(
    "erased_customers",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("customer", sa.String(300), primary_key=True),
    sa.Column("erase_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0010: the catalogue file last applied to each workspace at start-up (the SHA-256
# of its content): a start with the same file changes nothing (config_io.load_catalogue).
catalogue_loads = sa.Table(
    "catalogue_loads",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    # The version that applying it published (NULL: it changed nothing live).
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("load_time", sa.DateTime(timezone=True), nullable=False),
)

# Since 0011: what each trigger did for each customer on each signal whose condition held
# (or failed), and on each time-window firing (trigger_activity.py); pruned after the
# retention. Reasons are codes: no personal values.
trigger_activities = sa.Table(
    "trigger_activities",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("trigger_id", sa.String(63), primary_key=True),
    sa.Column("activity_id", sa.String(32), primary_key=True),
    sa.Column("customer", sa.String(300), nullable=False),
    sa.Column("signal_kind", sa.String(24), nullable=False),
    sa.Column("signal_cursor", sa.Text, nullable=False),
    sa.Column("event_message_id", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(8), nullable=False),
    sa.Column("reason", sa.String(128), nullable=False),
    # NULL when no decision was made / no message accepted.
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("message", sa.String(300), nullable=True),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    # Newest first: every trigger of a workspace (and the retention's pruning), one
    # trigger, one customer (and erasure, export).
    sa.Index("ix_trigger_activities_time", "workspace", "create_time", "activity_id"),
    sa.Index(
        "ix_trigger_activities_trigger", "workspace", "trigger_id", "create_time", "activity_id"
    ),
    sa.Index(
        "ix_trigger_activities_customer", "workspace", "customer", "create_time", "activity_id"
    ),
)

# Since 0012: each TIME_WINDOW trigger's backfill (the customers holding its date trait
# before it was live, scheduled from profile's ListProfiles): the definition it ran for,
# where it stands (profile's page token, so a restart resumes), and the replica holding
# it (claimed_by until claimed_until: one replica at a time).
trigger_backfills = sa.Table(
    "trigger_backfills",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("trigger_id", sa.String(63), primary_key=True),
    # date_trait, years_after, offset_days (window_backfill.definition_of).
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("page_token", sa.Text, nullable=False),
    sa.Column("profile_count", sa.BigInteger, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    # NULL while running.
    sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)
