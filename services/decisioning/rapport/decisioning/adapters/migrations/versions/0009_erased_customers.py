"""Tombstones of erased customers: a decision, contact or outcome written by a call that
read the customer before its erasure is refused instead of outliving the erasure.

Customers erased before keep no tombstone (nothing racing them is left).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erased_customers",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer", sa.String(300), primary_key=True),
        sa.Column("erase_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erased_customers")
