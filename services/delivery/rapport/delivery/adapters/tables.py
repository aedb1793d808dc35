"""Storage of delivery: the messages table is also the durable send queue."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workspace", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("payload_fingerprint", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Column("source", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempt_count", Integer, nullable=False),
    Column("provider", String(64), nullable=False),
    Column("provider_message_id", String(255), nullable=False),
    Column("failure_reason", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("send_time", DateTime(timezone=True), nullable=True),
    Column("next_attempt_time", DateTime(timezone=True), nullable=False),
    # A dispatcher's claim: only the holder of lease_token may record the attempt.
    Column("lease_token", String(32), nullable=True),
    Column("lease_expire_time", DateTime(timezone=True), nullable=True),
    # The provider that may already have the message (domain.model.Message).
    Column("ambiguous_provider", String(64), nullable=False, server_default=""),
    UniqueConstraint("workspace", "idempotency_key", name="uq_messages_idempotency_key"),
    Index("ix_messages_workspace_create", "workspace", "create_time", "id"),
    Index("ix_messages_customer_create", "workspace", "customer_id", "create_time", "id"),
    Index("ix_messages_due", "state", "next_attempt_time"),
)

# The in-app inbox: one row per CHANNEL_IN_APP message sent (same id as the message).
inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workspace", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("read_time", DateTime(timezone=True), nullable=True),
    Index("ix_inbox_customer_create", "workspace", "customer_id", "create_time", "id"),
)
