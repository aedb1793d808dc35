"""Model contributions: each observation an outcome added to a bandit's statistics, kept
so that erasing a customer subtracts their observations exactly.

Statistics added before keep no record: erasure cannot subtract those.

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
        "model_contributions",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("outcome_id", sa.String(32), primary_key=True),
        sa.Column("model_id", sa.String(63), primary_key=True),
        sa.Column("action_id", sa.String(63), nullable=False),
        sa.Column("customer", sa.String(300), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("x", sa.LargeBinary, nullable=False),
        sa.Column("exposed", sa.Boolean, nullable=False),
        sa.Column("reward", sa.Double, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_model_contributions_customer",
        "model_contributions",
        ["workspace", "customer", "create_time"],
    )
    op.create_index(
        "ix_model_contributions_model", "model_contributions", ["workspace", "model_id"]
    )


def downgrade() -> None:
    op.drop_table("model_contributions")
