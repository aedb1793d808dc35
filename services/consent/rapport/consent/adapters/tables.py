"""SQLAlchemy Core tables of the consent service.

The ledger is append-only: the code never updates an entry, and deletes entries only
when a data subject's erasure asks for it (data_subject_requests.py).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

consent_ledger = sa.Table(
    "consent_ledger",
    metadata,
    sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("workspace", sa.String(128), nullable=False),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("notice_version", sa.String(200), nullable=False),
    sa.Column("proof", sa.String(1000), nullable=False),
    sa.Column("effective_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
    # Set on a notice, not a decision: an answer of this customer turned from granted to
    # denied when identity merged or split customers (the id of the entry answering now,
    # "" if none). Streamed by WatchConsentRecords (delivery cancels on it), never an
    # answer: checks and lists read decisions only (migration 0002).
    sa.Column("derived_from", sa.String(32), nullable=True),
    # Checks: the latest entry per (customer, purpose, channel) by effective time.
    sa.Index(
        "ix_consent_ledger_key_effective",
        "workspace",
        "customer_id",
        "purpose",
        "channel",
        "effective_time",
        "seq",
    ),
    # History: a customer's entries newest first.
    sa.Index("ix_consent_ledger_customer_seq", "workspace", "customer_id", "seq"),
)

# Customers identity merged into another: `customer_id` answers (and records) as
# `survivor_id`; the entries stay under the customer they were recorded for, so an
# unmerge (the alias removed) splits the answers back exactly. Chains resolve
# transitively (C merged into B, B into A: C answers as A; B split off: C follows B).
consent_aliases = sa.Table(
    "consent_aliases",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("survivor_id", sa.String(128), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_consent_aliases_survivor", "workspace", "survivor_id"),
)

# Where following identity's WatchChanges resumes, per workspace.
identity_cursors = sa.Table(
    "consent_identity_cursors",
    metadata,
    sa.Column("workspace", sa.String(128), primary_key=True),
    sa.Column("cursor", sa.String(64), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# Data subject requests (access, erasure), kept after they complete as the audit trail
# (customer id, type, times, each service's status); what an access found is in the
# steps' data_json until expire_time (migration 0003).
data_subject_requests = sa.Table(
    "consent_data_subject_requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace", sa.String(128), nullable=False),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("block_identifiers", sa.Boolean(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # AIP-155: the same id again returns this request (NULL: none given; NULLs never
    # collide in the unique index).
    sa.Column("request_id", sa.String(36), nullable=True),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
    # When a step is next due (NULL once the request succeeded): the worker's claim.
    sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=True),
    # The replica working on the request, until leased_until (then another may).
    sa.Column("lease_token", sa.String(32), nullable=True),
    sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
    # The customer ids the request covers (a JSON array, the live one first; NULL until
    # identity's step found them).
    sa.Column("covered_customer_ids", sa.Text(), nullable=True),
    # Access: bumped by each erasure that deletes what it collected (in the erasure's
    # transaction, under the row's lock); an attempt that began under another value
    # collects again instead of recording what it read before the erasure.
    sa.Column("erasure_epoch", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_consent_dsr_due", "next_attempt_time"),
    sa.Index("ix_consent_dsr_list", "workspace", "create_time", "id"),
    sa.Index("ix_consent_dsr_expire", "expire_time"),
    sa.Index("ux_consent_dsr_request_id", "workspace", "request_id", unique=True),
)

# One row per service taking part in a request.
data_subject_request_steps = sa.Table(
    "consent_data_subject_request_steps",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("service", sa.String(16), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt_count", sa.Integer(), nullable=False),
    # The last failure's google.rpc.Status code and message (NULL once it succeeded).
    sa.Column("error_code", sa.Integer(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("data_json", sa.Text(), nullable=True),
    # Once succeeded: the records the service exported or erased (the receipt).
    sa.Column("record_count", sa.BigInteger(), nullable=True),
    # When the attempt under way began (under the request's lease; NULL when none runs:
    # a reader ignores it once the lease lapsed). Migration 0004.
    sa.Column("attempt_start_time", sa.DateTime(timezone=True), nullable=True),
)

# Every customer id a request covers (the one it was made for, and those identity's
# step found: the JSON covered_customer_ids as rows), so that listing a customer's
# requests finds those covering it under another id, in the list's order (create_time
# copied from the request) through the index. Migration 0004.
data_subject_request_customers = sa.Table(
    "consent_data_subject_request_customers",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("workspace", sa.String(128), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index(
        "ix_consent_dsr_customers_list", "workspace", "customer_id", "create_time", "request_id"
    ),
)
