"""Traits by key: the customers holding a trait, in customer order.

ListProfiles with `has_trait` pages through the customers of a workspace holding a key
(decisioning schedules its time windows from them); without this index that is a scan
of every trait of the workspace.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_traits_key_customer", "traits", ["workspace", "key", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_traits_key_customer", table_name="traits")
