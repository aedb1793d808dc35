"""Action groups, per-channel treatments, tags and rules of actions; the draft's settings;
published configuration versions; contacts counted against the contact limits.

Existing actions keep their content: no group, no treatment, no tag, empty
applicability and suitability. The existing actions and triggers become the draft;
at start-up, a workspace that never published publishes its draft as version 1
(bootstrap), so an upgraded deployment keeps deciding with what it had.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("group_id", sa.String(63), nullable=True))
        batch.add_column(sa.Column("treatments", sa.JSON, nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON, nullable=True))
        batch.add_column(sa.Column("applicability", sa.Text, nullable=True))
        batch.add_column(sa.Column("suitability", sa.Text, nullable=True))
        batch.add_column(sa.Column("update_time", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_actions_group", "actions", ["workspace", "group_id"])
    op.add_column("triggers", sa.Column("update_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("decisions", sa.Column("config_version", sa.Integer, nullable=True))
    op.create_index(
        "ix_outcomes_customer_time", "outcomes", ["workspace", "customer", "outcome_time"]
    )
    op.create_table(
        "action_groups",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("group_id", sa.String(63), primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("issue", sa.String(64), nullable=False),
        sa.Column("eligibility", sa.Text, nullable=False),
        sa.Column("applicability", sa.Text, nullable=False),
        sa.Column("suitability", sa.Text, nullable=False),
        sa.Column("lever", sa.Double, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "decision_settings",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "config_versions",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("source_version", sa.Integer, nullable=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("action_count", sa.Integer, nullable=False),
        sa.Column("group_count", sa.Integer, nullable=False),
        sa.Column("trigger_count", sa.Integer, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "contacts",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("decision_id", sa.String(32), primary_key=True),
        sa.Column("action", sa.String(300), primary_key=True),
        sa.Column("customer", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("contact_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_contacts_customer_time", "contacts", ["workspace", "customer", "contact_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_customer_time", table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("config_versions")
    op.drop_table("decision_settings")
    op.drop_table("action_groups")
    op.drop_index("ix_outcomes_customer_time", table_name="outcomes")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("config_version")
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("update_time")
    op.drop_index("ix_actions_group", table_name="actions")
    with op.batch_alter_table("actions") as batch:
        for column in ("update_time", "suitability", "applicability", "tags", "treatments"):
            batch.drop_column(column)
        batch.drop_column("group_id")
