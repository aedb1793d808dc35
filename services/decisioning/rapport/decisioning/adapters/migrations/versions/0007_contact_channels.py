"""Contacts keyed by channel too: a best-channel send holds a contact on every channel
offered to delivery until the channel delivery chose is known.

Rows stored before keep their one channel each.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["workspace", "decision_id", "action"]


def _unkeyed_contacts() -> sa.Table:
    def column(name: str, kind: sa.types.TypeEngine) -> sa.Column:
        return sa.Column(name, kind, nullable=False)

    return sa.Table(
        "contacts",
        sa.MetaData(),
        column("workspace", sa.String(128)),
        column("decision_id", sa.String(32)),
        column("action", sa.String(300)),
        column("customer", sa.String(300)),
        column("channel", sa.String(16)),
        column("purpose", sa.String(64)),
        column("contact_time", sa.DateTime(timezone=True)),
        sa.Index("ix_contacts_customer_time", "workspace", "customer", "contact_time"),
    )


def _rekey(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a primary key: batch mode copies the table, keyed anew.
        unkeyed = _unkeyed_contacts()
        with op.batch_alter_table("contacts", copy_from=unkeyed, recreate="always") as batch:
            batch.create_primary_key("contacts_pkey", columns)
        return
    op.drop_constraint("contacts_pkey", "contacts", type_="primary")
    op.create_primary_key("contacts_pkey", "contacts", columns)


def upgrade() -> None:
    _rekey([*_KEY, "channel"])


def downgrade() -> None:
    _rekey(_KEY)
