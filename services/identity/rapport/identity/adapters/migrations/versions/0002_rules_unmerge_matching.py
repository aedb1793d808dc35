"""Identity rules, unmerge and erasure, probabilistic matching.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("attributes_time", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("identifiers") as batch:
        batch.add_column(sa.Column("origin_customer_id", sa.String(64), nullable=True))
    op.execute("UPDATE identifiers SET origin_customer_id = customer_id")
    with op.batch_alter_table("merges") as batch:
        batch.add_column(sa.Column("undone_time", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "identity_rules",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "blocked_identifiers",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("value_digest", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "separations",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_a", sa.String(64), primary_key=True),
        sa.Column("customer_b", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deduplication_jobs",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("merge_threshold", sa.Float(), nullable=False),
        sa.Column("review_threshold", sa.Float(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("candidate_pair_count", sa.BigInteger(), nullable=False),
        sa.Column("merged_count", sa.BigInteger(), nullable=False),
        sa.Column("review_count", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(1024), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_deduplication_jobs_workspace_created",
        "deduplication_jobs",
        ["workspace", "create_time"],
    )
    op.create_table(
        "match_reviews",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("review_id", sa.String(64), primary_key=True),
        sa.Column("customer_a", sa.String(64), nullable=False),
        sa.Column("customer_b", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_time", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("workspace", "customer_a", "customer_b", name="uq_match_reviews_pair"),
    )
    op.create_index(
        "ix_match_reviews_workspace_state_probability",
        "match_reviews",
        ["workspace", "state", "probability"],
    )
    op.create_table(
        "match_models",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("train_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "match_models",
        "match_reviews",
        "deduplication_jobs",
        "separations",
        "blocked_identifiers",
        "identity_rules",
    ):
        op.drop_table(table)
    with op.batch_alter_table("merges") as batch:
        batch.drop_column("undone_time")
    with op.batch_alter_table("identifiers") as batch:
        batch.drop_column("origin_customer_id")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("attributes_time")
        batch.drop_column("attributes")
