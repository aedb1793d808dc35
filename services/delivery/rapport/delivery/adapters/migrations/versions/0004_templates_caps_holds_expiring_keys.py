"""Templates, frequency-cap counts, holds (quiet hours), best channel, priorities, and
idempotency keys that expire.

Idempotency keys move to their own table (one row per key in force): the unique
constraint on messages goes, so a key may make a new message once it expired.
Existing messages keep their key in force from their create_time.

Revision ID: 0004
Revises: 0003
Create Date: written by hand to match tables.py
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW_MESSAGE_COLUMNS = (
    ("template_id", sa.String(128), ""),
    ("locale", sa.String(35), ""),
    ("failure_detail", sa.Text(), ""),
    ("priority", sa.String(16), "NORMAL"),
    ("candidate_channels", sa.String(128), ""),
    ("channel_selection", sa.Text(), ""),
    ("schedule_reason", sa.String(32), ""),
)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "idempotency_key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_create", "idempotency_keys", ["create_time"])
    # Keys were unique per workspace until now: one row each.
    op.execute(
        "INSERT INTO idempotency_keys (workspace, idempotency_key, message_id, create_time)"
        " SELECT workspace, idempotency_key, id, create_time FROM messages"
    )
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_idempotency_key", type_="unique")
        for name, kind, default in _NEW_MESSAGE_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        batch.add_column(sa.Column("scheduled_time", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_idempotency_key", "messages", ["workspace", "idempotency_key"])
    op.create_table(
        "templates",
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("default_locale", sa.String(35), nullable=False),
        sa.Column("contents", sa.Text(), nullable=False),
        sa.Column("sample_traits", sa.Text(), nullable=False),
        sa.Column("sample_data", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "id", name="pk_templates"),
    )
    op.create_table(
        "cap_reservations",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reserve_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_cap_reservations_customer",
        "cap_reservations",
        ["workspace", "customer_id", "reserve_time"],
    )
    op.create_index("ix_cap_reservations_time", "cap_reservations", ["reserve_time"])


def downgrade() -> None:
    op.drop_table("cap_reservations")
    op.drop_table("templates")
    op.drop_index("ix_messages_idempotency_key", "messages")
    with op.batch_alter_table("messages") as batch:
        for name, _, _ in _NEW_MESSAGE_COLUMNS:
            batch.drop_column(name)
        batch.drop_column("scheduled_time")
        batch.create_unique_constraint(
            "uq_messages_idempotency_key", ["workspace", "idempotency_key"]
        )
    op.drop_table("idempotency_keys")
