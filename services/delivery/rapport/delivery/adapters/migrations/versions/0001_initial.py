"""Messages table (also the durable send queue).

Revision ID: 0001
Revises:
Create Date: written by hand to match tables.py
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("payload_fingerprint", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("provider_message_id", sa.String(255), nullable=False),
        sa.Column("failure_reason", sa.String(64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("workspace", "idempotency_key", name="uq_messages_idempotency_key"),
    )
    op.create_index("ix_messages_workspace_create", "messages", ["workspace", "create_time", "id"])
    op.create_index(
        "ix_messages_customer_create",
        "messages",
        ["workspace", "customer_id", "create_time", "id"],
    )
    op.create_index("ix_messages_due", "messages", ["state", "next_attempt_time"])


def downgrade() -> None:
    op.drop_table("messages")
