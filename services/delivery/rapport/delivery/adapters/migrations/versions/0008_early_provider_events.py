"""Provider events that came before the message's SENT was recorded: held, applied when
it is, pruned after a window.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "early_provider_events",
        sa.Column("match_key", sa.String(330), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("opted_out", sa.Integer(), nullable=False),
        sa.Column("receive_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("match_key", "event", name="pk_early_provider_events"),
    )
    op.create_index("ix_early_provider_events_receive", "early_provider_events", ["receive_time"])
    op.create_index(
        "ix_early_provider_events_customer",
        "early_provider_events",
        ["workspace", "customer_id"],
    )


def downgrade() -> None:
    op.drop_table("early_provider_events")
