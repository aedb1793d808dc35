"""Message ids in a de-duplication window, per-customer counters, trait provenance, groups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

The unique (workspace, message_id) index of events goes: de-duplication is now the
job of message_ids, which keeps a message id for a window and then forgets it. The
new tables are filled from the events already stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRAIT_PROVENANCE = (
    ("source_event_type", sa.String(16)),
    ("library_name", sa.String(100)),
    ("library_version", sa.String(100)),
    ("method", sa.String(64)),
    ("removed", sa.Boolean()),
    ("value_time", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "message_ids",
        sa.Column("message_id", sa.String(200), primary_key=True),
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("receive_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_message_ids_receive_time", "message_ids", ["receive_time"])
    op.execute(
        "INSERT INTO message_ids (workspace, message_id, event_id, customer_id, receive_time) "
        "SELECT workspace, message_id, event_id, customer_id, received_at FROM events"
    )
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_workspace_message_id", type_="unique")

    op.create_table(
        "profiles",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO profiles (workspace, customer_id, event_count, first_seen_time, "
        "last_seen_time) SELECT workspace, customer_id, count(*), min(timestamp), "
        "max(timestamp) FROM events GROUP BY workspace, customer_id"
    )

    with op.batch_alter_table("traits") as batch:
        for name, type_ in _TRAIT_PROVENANCE:
            batch.add_column(sa.Column(name, type_, nullable=True))

    op.create_table(
        "groups",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("group_key", sa.String(32), primary_key=True),
        sa.Column("group_id", sa.String(200), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_groups_workspace_update", "groups", ["workspace", "update_time", "group_key"]
    )
    # The columns of traits (0001 and above), keyed by group instead of customer.
    keys = [("workspace", sa.String(128)), ("group_key", sa.String(32)), ("key", sa.String())]
    values = [
        ("source_message_id", sa.String(200)),
        ("update_time", sa.DateTime(timezone=True)),
        ("received_at", sa.DateTime(timezone=True)),
        ("batch_index", sa.Integer()),
    ]
    op.create_table(
        "group_traits",
        *(sa.Column(name, type_, primary_key=True) for name, type_ in keys),
        sa.Column("value", sa.JSON(none_as_null=False), nullable=True),
        *(sa.Column(name, type_, nullable=False) for name, type_ in values),
        *(sa.Column(name, type_, nullable=True) for name, type_ in _TRAIT_PROVENANCE),
    )
    op.create_table(
        "group_members",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("group_key", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("join_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_message_id", sa.String(200), nullable=False),
    )
    op.create_index("ix_group_members_customer", "group_members", ["workspace", "customer_id"])


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("group_traits")
    op.drop_table("groups")
    with op.batch_alter_table("traits") as batch:
        for name, _ in reversed(_TRAIT_PROVENANCE):
            batch.drop_column(name)
    op.drop_table("profiles")
    with op.batch_alter_table("events") as batch:
        batch.create_unique_constraint(
            "uq_events_workspace_message_id", ["workspace", "message_id"]
        )
    op.drop_table("message_ids")
