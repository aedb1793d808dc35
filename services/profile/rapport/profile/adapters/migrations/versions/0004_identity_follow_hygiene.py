"""Identity cursor, retention and inactivity policies, relay positions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_cursors",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.String(32), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hygiene_policies",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("default_retention_days", sa.Integer(), nullable=False),
        sa.Column("event_retention_days", sa.JSON(), nullable=False),
        sa.Column("inactivity_event_name", sa.String(), nullable=True),
        sa.Column("inactivity_days", sa.Integer(), nullable=True),
        sa.Column("inactivity_action", sa.String(16), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "relay_positions",
        sa.Column("log", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_events_workspace_name_time", "events", ["workspace", "event_name", "timestamp"]
    )
    op.create_index("ix_signals_workspace_customer", "signals", ["workspace", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_signals_workspace_customer", table_name="signals")
    op.drop_index("ix_events_workspace_name_time", table_name="events")
    op.drop_table("relay_positions")
    op.drop_table("hygiene_policies")
    op.drop_table("identity_cursors")
