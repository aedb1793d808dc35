"""The append-only consent ledger.

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


def upgrade() -> None:
    op.create_table(
        "consent_ledger",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("notice_version", sa.String(200), nullable=False),
        sa.Column("proof", sa.String(1000), nullable=False),
        sa.Column("effective_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_consent_ledger_key_effective",
        "consent_ledger",
        ["workspace", "customer_id", "purpose", "channel", "effective_time", "seq"],
    )
    op.create_index(
        "ix_consent_ledger_customer_seq", "consent_ledger", ["workspace", "customer_id", "seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_consent_ledger_customer_seq", table_name="consent_ledger")
    op.drop_index("ix_consent_ledger_key_effective", table_name="consent_ledger")
    op.drop_table("consent_ledger")
