"""SQLAlchemy Core tables of the identity service (mirrored by migrations/versions)."""

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

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

customers = Table(
    "customers",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    # Set when merged: always the live survivor (chains are compressed on merge).
    Column("merged_into", String(64), nullable=True),
    # Live customers oldest first (ListCustomers) and "merged into X" lookups.
    Index(
        "ix_customers_workspace_merged_into_age",
        "workspace",
        "merged_into",
        "create_time",
        "customer_id",
    ),
)

identifiers = Table(
    "identifiers",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("value", String(512), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("link_time", DateTime(timezone=True), nullable=False),
    # The graph's core guarantee: an identifier belongs to one customer.
    UniqueConstraint("workspace", "type", "value", name="uq_identifiers_workspace_type_value"),
    Index("ix_identifiers_workspace_customer", "workspace", "customer_id"),
)

merges = Table(
    "merges",
    metadata,
    Column("merge_id", _SEQ, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("survivor_id", String(64), nullable=False),
    Column("merged_id", String(64), nullable=False),
    # The observation that caused the merge: [[type, value], ...], its source and time.
    Column("identifiers", JSON, nullable=False),
    Column("source", String(256), nullable=False),
    Column("observe_time", DateTime(timezone=True), nullable=False),
    Column("merge_time", DateTime(timezone=True), nullable=False),
    Index("ix_merges_workspace_survivor", "workspace", "survivor_id"),
    Index("ix_merges_workspace_merged", "workspace", "merged_id"),
)

# Append-only log of graph changes, read from a cursor (seq) by WatchChanges.
identity_changes = Table(
    "identity_changes",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("other_customer_id", String(64), nullable=True),
    Column("change_time", DateTime(timezone=True), nullable=False),
    Index("ix_identity_changes_workspace_seq", "workspace", "seq"),
)
