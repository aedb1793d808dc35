"""Storage of delivery: the messages table is also the durable send queue."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
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
    # The saved template it renders (id in the workspace); empty for inline content.
    Column("template_id", String(128), nullable=False, server_default=""),
    Column("locale", String(35), nullable=False, server_default=""),
    Column("failure_detail", Text, nullable=False, server_default=""),
    Column("priority", String(16), nullable=False, server_default="NORMAL"),
    # Best channel: the candidates, comma-separated (empty: the channel was given), and
    # the choice as JSON once made. `channel` is empty until then.
    Column("candidate_channels", String(128), nullable=False, server_default=""),
    Column("channel_selection", Text, nullable=False, server_default=""),
    Column("scheduled_time", DateTime(timezone=True), nullable=True),
    Column("schedule_reason", String(32), nullable=False, server_default=""),
    # What the last failed attempt met (dead letters keep it).
    Column("last_error", String(64), nullable=False, server_default=""),
    # Not unique: an idempotency key may come back once it expired (idempotency_keys).
    Index("ix_messages_idempotency_key", "workspace", "idempotency_key"),
    Index("ix_messages_workspace_create", "workspace", "create_time", "id"),
    Index("ix_messages_customer_create", "workspace", "customer_id", "create_time", "id"),
    Index("ix_messages_due", "state", "next_attempt_time"),
    Index("ix_messages_workspace_state_create", "workspace", "state", "create_time", "id"),
    # Where it went (erased with the customer's data); recipient_key is a keyed hash of
    # it (finds the customer of an SMS STOP reply); identifiers (JSON [[type, value]])
    # are what its profile events carry.
    Column("recipient", Text, nullable=False, server_default=""),
    Column("recipient_key", String(64), nullable=False, server_default=""),
    Column("identifiers", Text, nullable=False, server_default="[]"),
    Column("delivery_time", DateTime(timezone=True), nullable=True),
    Column("open_time", DateTime(timezone=True), nullable=True),
    Column("click_time", DateTime(timezone=True), nullable=True),
    Column("erase_time", DateTime(timezone=True), nullable=True),
    # Opens and clicks reported, repeats included (the times above are the first).
    Column("open_count", Integer, nullable=False, server_default="0"),
    Column("click_count", Integer, nullable=False, server_default="0"),
    Index("ix_messages_provider_id", "provider", "provider_message_id"),
    Index("ix_messages_recipient_key", "recipient_key"),
)

# Every status change of every message, oldest first by id (GetMessage shows them).
message_status_history = Table(
    "message_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", String(256), nullable=False),
    Column("reporter", String(64), nullable=False),
    Column("change_time", DateTime(timezone=True), nullable=False),
    Index("ix_message_status_history_message", "message_id", "id"),
)

# What must reach another service, written in the transaction of the change that causes
# it and drained by a background relay with retries: profile events of status changes
# ("profile_event") and consent opt-outs of bounces and complaints ("consent_opt_out").
outbox = Table(
    "outbox",
    metadata,
    # Unique per item (a profile event's message id): a replayed change is one row.
    Column("id", String(160), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("workspace", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("payload", Text, nullable=False),  # JSON object
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("next_attempt_time", DateTime(timezone=True), nullable=False),
    Column("attempt_count", Integer, nullable=False),
    Index("ix_outbox_due", "next_attempt_time"),
    Index("ix_outbox_customer", "workspace", "customer_id"),
)

# Provider events for a message whose SENT is not recorded yet (the callback beat the
# dispatcher's commit, or the send was ambiguous): applied in the transaction that records
# SENT, pruned after a window. match_key is "m:<message id>", or "p:<provider>\x1f<the
# provider's id>" while no message is known by that id; one row per key and event, so a
# provider's retry of the same callback is stored once.
early_provider_events = Table(
    "early_provider_events",
    metadata,
    Column("match_key", String(330), nullable=False),
    Column("event", String(32), nullable=False),
    # Empty when any workspace served may match (callbacks naming no workspace).
    Column("workspace", String(128), nullable=False),
    # The message's customer when the message was known (erased with the customer).
    Column("customer_id", String(128), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("reason", String(256), nullable=False),
    Column("reporter", String(64), nullable=False),
    # 1 when the opt-out the event leads to was written when it came (the message known).
    Column("opted_out", Integer, nullable=False),
    Column("receive_time", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("match_key", "event", name="pk_early_provider_events"),
    Index("ix_early_provider_events_receive", "receive_time"),
    Index("ix_early_provider_events_customer", "workspace", "customer_id"),
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

# The idempotency keys in force: the message each made, until it expires (a key older
# than the deployment's window no longer counts, and is pruned).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("message_id", String(32), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("workspace", "idempotency_key", name="pk_idempotency_keys"),
    Index("ix_idempotency_keys_create", "create_time"),
)

templates = Table(
    "templates",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("id", String(128), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("default_locale", String(35), nullable=False),
    Column("contents", Text, nullable=False),  # JSON: {locale: {part: template}}
    Column("sample_traits", Text, nullable=False),  # JSON object
    Column("sample_data", Text, nullable=False),  # JSON object
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("workspace", "id", name="pk_templates"),
)

# Messages counted by frequency caps (the database variant; Redis keeps its own).
cap_reservations = Table(
    "cap_reservations",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("workspace", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("reserve_time", DateTime(timezone=True), nullable=False),
    Index("ix_cap_reservations_customer", "workspace", "customer_id", "reserve_time"),
    Index("ix_cap_reservations_time", "reserve_time"),
)

# How far delivery has read each workspace's consent ledger (WatchConsentRecords): queued
# messages are cancelled for each opt-out past it.
consent_cursors = Table(
    "consent_cursors",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("cursor", BigInteger, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
)

# Keys delivery generated for itself and every replica shares: the first replica to
# start stores one, every other reads it (e.g. the closed loop's signing key when
# UNSUBSCRIBE_SECRET is not set). `secret` is hex.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)
