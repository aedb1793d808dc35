"""Durable queue: the last error of each message (dead letters keep it), messages listed
by state, and the position delivery reached in each workspace's consent ledger
(cancelling queued messages when consent is withdrawn).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("last_error", sa.String(64), nullable=False, server_default=""))
    op.create_index(
        "ix_messages_workspace_state_create",
        "messages",
        ["workspace", "state", "create_time", "id"],
    )
    op.create_table(
        "consent_cursors",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_cursors")
    op.drop_index("ix_messages_workspace_state_create", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("last_error")
