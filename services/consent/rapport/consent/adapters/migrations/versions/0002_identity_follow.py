"""Consent follows identity: customer aliases, the WatchChanges cursor, and notices in the
ledger (entries with derived_from set: streamed, never an answer).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("consent_ledger", sa.Column("derived_from", sa.String(32), nullable=True))
    op.create_table(
        "consent_aliases",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("survivor_id", sa.String(128), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_consent_aliases_survivor", "consent_aliases", ["workspace", "survivor_id"])
    op.create_table(
        "consent_identity_cursors",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.String(64), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_identity_cursors")
    op.drop_index("ix_consent_aliases_survivor", table_name="consent_aliases")
    op.drop_table("consent_aliases")
    with op.batch_alter_table("consent_ledger") as batch:
        batch.drop_column("derived_from")
