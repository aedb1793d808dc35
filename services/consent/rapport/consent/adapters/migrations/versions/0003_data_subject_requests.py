"""Data subject requests orchestrated from consent: the requests and one step per service.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_data_subject_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("block_identifiers", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("covered_customer_ids", sa.Text(), nullable=True),
        sa.Column("erasure_epoch", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_consent_dsr_due", "consent_data_subject_requests", ["next_attempt_time"])
    op.create_index(
        "ix_consent_dsr_list", "consent_data_subject_requests", ["workspace", "create_time", "id"]
    )
    op.create_index(
        "ix_consent_dsr_customer",
        "consent_data_subject_requests",
        ["workspace", "customer_id", "create_time"],
    )
    op.create_index("ix_consent_dsr_expire", "consent_data_subject_requests", ["expire_time"])
    op.create_index(
        "ux_consent_dsr_request_id",
        "consent_data_subject_requests",
        ["workspace", "request_id"],
        unique=True,
    )
    op.create_table(
        "consent_data_subject_request_steps",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("service", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("consent_data_subject_request_steps")
    op.drop_index("ux_consent_dsr_request_id", table_name="consent_data_subject_requests")
    op.drop_index("ix_consent_dsr_expire", table_name="consent_data_subject_requests")
    op.drop_index("ix_consent_dsr_customer", table_name="consent_data_subject_requests")
    op.drop_index("ix_consent_dsr_list", table_name="consent_data_subject_requests")
    op.drop_index("ix_consent_dsr_due", table_name="consent_data_subject_requests")
    op.drop_table("consent_data_subject_requests")
