"""Events, traits, customer aliases and the signal log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("event_name", sa.String(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.UniqueConstraint("workspace", "message_id", name="uq_events_workspace_message_id"),
    )
    op.create_index(
        "ix_events_customer_time", "events", ["workspace", "customer_id", "timestamp", "seq"]
    )
    op.create_index("ix_events_workspace_time", "events", ["workspace", "timestamp", "seq"])

    op.create_table(
        "traits",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("value", sa.JSON(none_as_null=False), nullable=True),
        sa.Column("source_message_id", sa.String(200), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
    )

    op.create_table(
        "customer_aliases",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("merged_customer_id", sa.String(128), primary_key=True),
        sa.Column("survivor_customer_id", sa.String(128), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_customer_aliases_survivor", "customer_aliases", ["workspace", "survivor_customer_id"]
    )

    op.create_table(
        "signals",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_signals_workspace_seq", "signals", ["workspace", "seq"])


def downgrade() -> None:
    op.drop_table("signals")
    op.drop_table("customer_aliases")
    op.drop_table("traits")
    op.drop_table("events")
