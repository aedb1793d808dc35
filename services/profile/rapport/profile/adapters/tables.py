"""SQLAlchemy Core tables of the profile service (mirrored by migrations/versions)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
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
    UniqueConstraint("workspace", "message_id", name="uq_events_workspace_message_id"),
    Index("ix_events_customer_time", "workspace", "customer_id", "timestamp", "seq"),
    Index("ix_events_workspace_time", "workspace", "timestamp", "seq"),
)

traits = Table(
    "traits",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(128), primary_key=True),
    Column("key", String(), primary_key=True),
    Column("value", JSON(none_as_null=False), nullable=True),
    Column("source_message_id", String(200), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("batch_index", Integer, nullable=False),
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
