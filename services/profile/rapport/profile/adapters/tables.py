"""SQLAlchemy Core tables of the profile service (mirrored by migrations/versions)."""

from __future__ import annotations

from rapport.eventbus import relay_positions_table
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
Seq = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("customer_id", String(128), nullable=False),
    Column("type", String(16), nullable=False),
    Column("event_name", String(), nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("document", JSON, nullable=False),
    Index("ix_events_customer_time", "workspace", "customer_id", "timestamp", "seq"),
    Index("ix_events_workspace_time", "workspace", "timestamp", "seq"),
    # Retention by event name, and the inactivity rule's last activity (0004).
    Index("ix_events_workspace_name_time", "workspace", "event_name", "timestamp"),
    # A seq is never handed out twice (0006): without it SQLite gives a new event the
    # seq of the newest one an erasure deleted, inside a running backfill's bound.
    sqlite_autoincrement=True,
)

# Message ids seen within the de-duplication window (claimed in the transaction that
# stores the event), pruned by receive_time once older than the window.
message_ids = Table(
    "message_ids",
    metadata,
    # The message id leads the key: lookups of a batch's ids are index probes.
    Column("message_id", String(200), primary_key=True),
    Column("workspace", String(128), primary_key=True),
    Column("event_id", String(32), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("receive_time", DateTime(timezone=True), nullable=False),
    Index("ix_message_ids_receive_time", "receive_time"),
)

# Per customer: the counters of its events (GetProfile reads them, not the events).
profiles = Table(
    "profiles",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("event_count", BigInteger, nullable=False),
    Column("first_seen_time", DateTime(timezone=True), nullable=False),
    Column("last_seen_time", DateTime(timezone=True), nullable=False),
)


def _trait_columns() -> list[Column]:  # type: ignore[type-arg]
    """The value and provenance of a trait (of a customer or of a group)."""
    return [
        Column("key", String(), primary_key=True),
        Column("value", JSON(none_as_null=False), nullable=True),
        Column("source_message_id", String(200), nullable=False),
        Column("update_time", DateTime(timezone=True), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
        Column("batch_index", Integer, nullable=False),
        # Provenance; NULL in rows written before it was kept.
        Column("source_event_type", String(16), nullable=True),
        Column("library_name", String(100), nullable=True),
        Column("library_version", String(100), nullable=True),
        Column("method", String(64), nullable=True),
        # A removal (kept so older events cannot set the trait again); NULL: false.
        Column("removed", Boolean, nullable=True),
        # The instant a date-valued trait names (domain.dates), for time-based rules.
        Column("value_time", DateTime(timezone=True), nullable=True),
    ]


traits = Table(
    "traits",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    *_trait_columns(),
    # The customers holding a key, in customer order: ListProfiles' has_trait (0008).
    Index("ix_traits_key_customer", "workspace", "key", "customer_id"),
)

# Groups (Segment's group call), by group key (names.group_key of the sender's id).
groups = Table(
    "groups",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("group_key", String(32), primary_key=True),
    Column("group_id", String(200), nullable=False),
    Column("member_count", BigInteger, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Index("ix_groups_workspace_update", "workspace", "update_time", "group_key"),
)

group_traits = Table(
    "group_traits",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("group_key", String(32), primary_key=True),
    *_trait_columns(),
)

group_members = Table(
    "group_members",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("group_key", String(32), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("join_time", DateTime(timezone=True), nullable=False),
    Column("source_message_id", String(200), nullable=False),
    Index("ix_group_members_customer", "workspace", "customer_id"),
)

# A customer merged away by identity -> the survivor its data moved to.
customer_aliases = Table(
    "customer_aliases",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("merged_customer_id", String(128), primary_key=True),
    Column("survivor_customer_id", String(128), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("ix_customer_aliases_survivor", "workspace", "survivor_customer_id"),
)

# Segments (0003): a CEL rule; members kept up to date by ingestion and, for every
# customer, by the evaluator at next_evaluation_time (after creation; periodically when
# the rule depends on time).
segments = Table(
    "segments",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("segment_id", String(63), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("rule", Text(), nullable=False),
    Column("time_dependent", Boolean, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("last_evaluation_time", DateTime(timezone=True), nullable=True),
    Column("next_evaluation_time", DateTime(timezone=True), nullable=True),
    Index("ix_segments_next_evaluation", "next_evaluation_time"),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("segment_id", String(63), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("enter_time", DateTime(timezone=True), nullable=False),
    # Covers a customer's memberships, read on every ingest (0005).
    Index("ix_segment_members_customer_segment", "workspace", "customer_id", "segment_id"),
)

# A customer's evaluated state (0003): its life stage; a row means rules have seen it.
customer_states = Table(
    "customer_states",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("life_stage", String(63), nullable=True),
    Column("update_time", DateTime(timezone=True), nullable=False),
)

life_stage_models = Table(
    "life_stage_models",
    metadata,
    Column("workspace", String(128), primary_key=True),
    # [{"stage": ..., "rule": ...}, ...] in order.
    Column("stages", JSON, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    # Every customer given its stage (after an update; periodically for time rules).
    Column("last_evaluation_time", DateTime(timezone=True), nullable=True),
    Column("next_evaluation_time", DateTime(timezone=True), nullable=True),
)


def _plan_columns() -> list[Column]:  # type: ignore[type-arg]
    return [
        Column("display_name", String(200), nullable=False),
        Column("enforcement", String(8), nullable=False),
        Column("event_schemas", JSON, nullable=False),
        Column("identify_schema", JSON, nullable=True),
        Column("update_time", DateTime(timezone=True), nullable=False),
    ]


# Tracking plans (0003): the latest revision, every revision, violation counts.
tracking_plans = Table(
    "tracking_plans",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("plan_id", String(63), primary_key=True),
    Column("revision_id", BigInteger, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    *_plan_columns(),
)

tracking_plan_revisions = Table(
    "tracking_plan_revisions",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("plan_id", String(63), primary_key=True),
    Column("revision_id", BigInteger, primary_key=True),
    *_plan_columns(),
)

tracking_plan_violations = Table(
    "tracking_plan_violations",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("plan_id", String(63), primary_key=True),
    Column("event_type", String(16), primary_key=True),
    Column("event_name", String(), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("field", String(), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("description", String(), nullable=False),
    Column("last_message_id", String(200), nullable=False),
    Column("last_time", DateTime(timezone=True), nullable=False),
)

# Computed traits (0003): definitions, per customer and day buckets (domain.computed),
# the backfill job of each trait (events stored before it, seq <= upto_seq).
computed_traits = Table(
    "computed_traits",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("trait_id", String(63), primary_key=True),
    Column("key", String(63), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("event_name", String(200), nullable=False),
    Column("filter", JSON, nullable=False),
    Column("property", String(200), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("job_id", String(63), nullable=False),
    UniqueConstraint("workspace", "key", name="uq_computed_traits_workspace_key"),
)

computed_trait_buckets = Table(
    "computed_trait_buckets",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("trait_id", String(63), primary_key=True),
    # Days since 1970-01-01 (UTC) of the events' event time.
    Column("day", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=True),
    Column("max", Float, nullable=True),
    Column("first_time", DateTime(timezone=True), nullable=True),
    Column("first_value", JSON(none_as_null=True), nullable=True),
    Column("last_time", DateTime(timezone=True), nullable=True),
    Column("last_value", JSON(none_as_null=True), nullable=True),
    Column("vals", JSON(none_as_null=True), nullable=True),
    Index("ix_computed_trait_buckets_trait_day", "workspace", "trait_id", "day"),
)

backfill_jobs = Table(
    "backfill_jobs",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("trait_id", String(63), primary_key=True),
    Column("job_id", String(63), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("upto_seq", BigInteger, nullable=False),
    Column("cursor_seq", BigInteger, nullable=False),
    Column("processed", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Index("ix_backfill_jobs_state", "state"),
)

# The durable signal log; seq is the cursor handed to WatchSignals clients.
signals = Table(
    "signals",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("ix_signals_workspace_seq", "workspace", "seq"),
    # EraseProfile deletes a customer's signals (0004).
    Index("ix_signals_workspace_customer", "workspace", "customer_id"),
    # A seq is never handed out twice (0006): without it SQLite gives a new signal the
    # seq of the newest one an erasure deleted, which readers past it skip.
    sqlite_autoincrement=True,
)

# Identity's WatchChanges: where profile has got to, per workspace (identity's cursor).
identity_cursors = Table(
    "identity_cursors",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("cursor", String(32), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
)

# Customers profile erased (identity's erasure, EraseProfile, the inactivity sweep), and
# those merged into them (0007): an ingest that resolved its events before the erasure
# finds them under the customers' locks and asks identity again (ingestion.py).
erased_customers = Table(
    "erased_customers",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("erased_time", DateTime(timezone=True), nullable=False),
)

# The data hygiene policy of a workspace (retention per event name, inactivity rule).
hygiene_policies = Table(
    "hygiene_policies",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("default_retention_days", Integer, nullable=False),
    # Event name -> days kept (0: forever).
    Column("event_retention_days", JSON, nullable=False),
    Column("inactivity_event_name", String(), nullable=True),
    Column("inactivity_days", Integer, nullable=True),
    Column("inactivity_action", String(16), nullable=True),
    Column("update_time", DateTime(timezone=True), nullable=False),
)

# How far the NATS relay of the signal log has got (rapport.eventbus).
relay_positions = relay_positions_table(metadata)
