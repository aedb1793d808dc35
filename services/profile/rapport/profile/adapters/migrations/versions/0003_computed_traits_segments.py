"""Tracking plans (revisions, violation counts), computed traits (per-day buckets,
backfill jobs), segments and their members, life stages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _plan_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("enforcement", sa.String(8), nullable=False),
        sa.Column("event_schemas", sa.JSON(), nullable=False),
        sa.Column("identify_schema", sa.JSON(), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("segment_id", sa.String(63), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("time_dependent", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_evaluation_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_evaluation_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_segments_next_evaluation", "segments", ["next_evaluation_time"])
    op.create_table(
        "segment_members",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("segment_id", sa.String(63), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("enter_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_segment_members_customer", "segment_members", ["workspace", "customer_id"])
    op.create_table(
        "customer_states",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("life_stage", sa.String(63), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "life_stage_models",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_evaluation_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_evaluation_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "tracking_plans",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("plan_id", sa.String(63), primary_key=True),
        sa.Column("revision_id", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        *_plan_columns(),
    )
    op.create_table(
        "tracking_plan_revisions",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("plan_id", sa.String(63), primary_key=True),
        sa.Column("revision_id", sa.BigInteger(), primary_key=True),
        *_plan_columns(),
    )
    op.create_table(
        "tracking_plan_violations",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("plan_id", sa.String(63), primary_key=True),
        sa.Column("event_type", sa.String(16), primary_key=True),
        sa.Column("event_name", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("field", sa.String(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("last_message_id", sa.String(200), nullable=False),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "computed_traits",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("trait_id", sa.String(63), primary_key=True),
        sa.Column("key", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("event_name", sa.String(200), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("property", sa.String(200), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(63), nullable=False),
        sa.UniqueConstraint("workspace", "key", name="uq_computed_traits_workspace_key"),
    )
    op.create_table(
        "computed_trait_buckets",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("trait_id", sa.String(63), primary_key=True),
        sa.Column("day", sa.Integer(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("min", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.Column("first_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("vals", sa.JSON(none_as_null=True), nullable=True),
    )
    op.create_index(
        "ix_computed_trait_buckets_trait_day",
        "computed_trait_buckets",
        ["workspace", "trait_id", "day"],
    )
    op.create_table(
        "backfill_jobs",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("trait_id", sa.String(63), primary_key=True),
        sa.Column("job_id", sa.String(63), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("upto_seq", sa.BigInteger(), nullable=False),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=False),
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_backfill_jobs_state", "backfill_jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_backfill_jobs_state", "backfill_jobs")
    op.drop_table("backfill_jobs")
    op.drop_index("ix_computed_trait_buckets_trait_day", "computed_trait_buckets")
    op.drop_table("computed_trait_buckets")
    op.drop_table("computed_traits")
    for table in (
        "tracking_plan_violations",
        "tracking_plan_revisions",
        "tracking_plans",
        "life_stage_models",
        "customer_states",
    ):
        op.drop_table(table)
    op.drop_index("ix_segment_members_customer", "segment_members")
    op.drop_table("segment_members")
    op.drop_index("ix_segments_next_evaluation", "segments")
    op.drop_table("segments")
