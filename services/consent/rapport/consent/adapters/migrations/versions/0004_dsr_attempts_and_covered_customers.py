"""Data subject requests: when a step's attempt under way began, and every customer id a
request covers as rows (ListDataSubjectRequests' customer filter matches any of them).

The rows are filled from the requests stored before: the customer each was made for and
the ids of its covered_customer_ids (a value this version cannot read: the customer
alone). The index of the customer a request was made for is replaced by theirs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

requests = sa.table(
    "consent_data_subject_requests",
    sa.column("id", sa.String),
    sa.column("workspace", sa.String),
    sa.column("customer_id", sa.String),
    sa.column("create_time", sa.DateTime(timezone=True)),
    sa.column("covered_customer_ids", sa.Text),
)
customers = sa.table(
    "consent_data_subject_request_customers",
    sa.column("request_id", sa.String),
    sa.column("customer_id", sa.String),
    sa.column("workspace", sa.String),
    sa.column("create_time", sa.DateTime(timezone=True)),
)


def _covered_ids(text: str | None) -> list[str]:
    try:
        ids = json.loads(text) if text else []
    except ValueError:
        return []
    if not isinstance(ids, list):
        return []
    return [i for i in ids if isinstance(i, str) and i]


def _fill_customers() -> None:
    bind = op.get_bind()
    # The customer each request was made for, its create time copied as stored.
    bind.execute(
        customers.insert().from_select(
            ["request_id", "customer_id", "workspace", "create_time"],
            sa.select(
                requests.c.id, requests.c.customer_id, requests.c.workspace, requests.c.create_time
            ),
        )
    )
    copy_for = customers.insert().from_select(
        ["request_id", "customer_id", "workspace", "create_time"],
        sa.select(
            requests.c.id,
            sa.cast(sa.bindparam("covered", type_=sa.String), sa.String(128)),
            requests.c.workspace,
            requests.c.create_time,
        ).where(requests.c.id == sa.bindparam("request")),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(requests.c.id, requests.c.customer_id, requests.c.covered_customer_ids)
            .where(requests.c.id > after, requests.c.covered_customer_ids.is_not(None))
            .order_by(requests.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        others = [
            {"request": request_id, "covered": covered}
            for request_id, customer_id, text in rows
            for covered in dict.fromkeys(_covered_ids(text))
            if covered != customer_id
        ]
        if others:
            bind.execute(copy_for, others)
        after = rows[-1].id


def upgrade() -> None:
    op.add_column(
        "consent_data_subject_request_steps",
        sa.Column("attempt_start_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "consent_data_subject_request_customers",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("workspace", sa.String(128), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_consent_dsr_customers_list",
        "consent_data_subject_request_customers",
        ["workspace", "customer_id", "create_time", "request_id"],
    )
    _fill_customers()
    op.drop_index("ix_consent_dsr_customer", table_name="consent_data_subject_requests")


def downgrade() -> None:
    op.create_index(
        "ix_consent_dsr_customer",
        "consent_data_subject_requests",
        ["workspace", "customer_id", "create_time"],
    )
    op.drop_index(
        "ix_consent_dsr_customers_list", table_name="consent_data_subject_request_customers"
    )
    op.drop_table("consent_data_subject_request_customers")
    with op.batch_alter_table("consent_data_subject_request_steps") as batch:
        batch.drop_column("attempt_start_time")
