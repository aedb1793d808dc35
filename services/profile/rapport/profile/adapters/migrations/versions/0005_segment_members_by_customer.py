"""Segment members by customer: an index that covers the segment id.

Ingestion reads the memberships of every customer a batch touches; with the segment id
in the index, that read never visits the table's rows. It replaces the index on
(workspace, customer_id), whose leading columns it shares.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_segment_members_customer_segment",
        "segment_members",
        ["workspace", "customer_id", "segment_id"],
    )
    op.drop_index("ix_segment_members_customer", table_name="segment_members")


def downgrade() -> None:
    op.create_index("ix_segment_members_customer", "segment_members", ["workspace", "customer_id"])
    op.drop_index("ix_segment_members_customer_segment", table_name="segment_members")
