"""Initial identity graph: customers, identifiers, merges, change log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_customers_workspace_merged_into_age",
        "customers",
        ["workspace", "merged_into", "create_time", "customer_id"],
    )

    op.create_table(
        "identifiers",
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("link_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "workspace", "type", "value", name="uq_identifiers_workspace_type_value"
        ),
    )
    op.create_index(
        "ix_identifiers_workspace_customer", "identifiers", ["workspace", "customer_id"]
    )

    op.create_table(
        "merges",
        sa.Column("merge_id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("survivor_id", sa.String(64), nullable=False),
        sa.Column("merged_id", sa.String(64), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("observe_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merge_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_merges_workspace_survivor", "merges", ["workspace", "survivor_id"])
    op.create_index("ix_merges_workspace_merged", "merges", ["workspace", "merged_id"])

    op.create_table(
        "identity_changes",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("other_customer_id", sa.String(64), nullable=True),
        sa.Column("change_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_identity_changes_workspace_seq", "identity_changes", ["workspace", "seq"])


def downgrade() -> None:
    op.drop_table("identity_changes")
    op.drop_table("merges")
    op.drop_table("identifiers")
    op.drop_table("customers")
