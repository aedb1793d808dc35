"""SQLAlchemy Core tables of the consent service.

The ledger is append-only: the code has no UPDATE or DELETE path on it.
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
