"""Decisions keep their excluded actions, requested channel and source; list indexes.

The new columns are NULL in rows written before, which read back with no
excluded actions, any channel and an empty source (all of them came from Decide).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("excluded_actions", sa.JSON, nullable=True))
    op.add_column("decisions", sa.Column("channel", sa.String(16), nullable=True))
    op.add_column("decisions", sa.Column("source", sa.String(300), nullable=True))
    op.create_index("ix_decisions_time", "decisions", ["workspace", "create_time", "decision_id"])
    op.create_index(
        "ix_decisions_customer_time",
        "decisions",
        ["workspace", "customer", "create_time", "decision_id"],
    )
    op.create_index("ix_outcomes_time", "outcomes", ["workspace", "create_time", "outcome_id"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_time", table_name="outcomes")
    op.drop_index("ix_decisions_customer_time", table_name="decisions")
    op.drop_index("ix_decisions_time", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("source")
        batch.drop_column("channel")
        batch.drop_column("excluded_actions")
