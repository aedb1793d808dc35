"""The closed loop: where each message went (address, a keyed hash of it, the customer's
identifiers for profile events), when providers reported it delivered, opened or
clicked, its erasure, its status history, and the outbox of profile events and consent
opt-outs drained by a background relay.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT_COLUMNS = (
    ("recipient", sa.Text(), ""),
    ("recipient_key", sa.String(64), ""),
    ("identifiers", sa.Text(), "[]"),
)
_TIME_COLUMNS = ("delivery_time", "open_time", "click_time", "erase_time")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for name, kind, default in _TEXT_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        for name in _TIME_COLUMNS:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_provider_id", "messages", ["provider", "provider_message_id"])
    op.create_index("ix_messages_recipient_key", "messages", ["recipient_key"])
    op.create_table(
        "message_status_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("change_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_message_status_history_message", "message_status_history", ["message_id", "id"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_time"])
    op.create_index("ix_outbox_customer", "outbox", ["workspace", "customer_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("message_status_history")
    op.drop_index("ix_messages_recipient_key", table_name="messages")
    op.drop_index("ix_messages_provider_id", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        for name in _TIME_COLUMNS:
            batch.drop_column(name)
        for name, _, _ in _TEXT_COLUMNS:
            batch.drop_column(name)
