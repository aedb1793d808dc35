"""SQLAlchemy Core tables of the profile service (mirrored by migrations/versions)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
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
)
