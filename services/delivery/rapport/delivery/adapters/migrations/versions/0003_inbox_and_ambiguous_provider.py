"""The in-app inbox, and the provider that may already have a message.

Revision ID: 0003
Revises: 0002
Create Date: written by hand to match tables.py
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Messages queued before this revision were never left ambiguous: empty is right.
    op.add_column(
        "messages",
        sa.Column("ambiguous_provider", sa.String(64), nullable=False, server_default=""),
    )
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_inbox_customer_create",
        "inbox_messages",
        ["workspace", "customer_id", "create_time", "id"],
    )


def downgrade() -> None:
    op.drop_table("inbox_messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("ambiguous_provider")
