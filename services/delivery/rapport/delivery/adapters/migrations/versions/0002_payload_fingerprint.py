"""Payload fingerprints computed from the message's decoded payload.

They used to be the sha256 of the serialised SendMessageRequest; they are now
computed from what the message says (domain.model.payload_fingerprint), so a
replay of a key accepted before this revision must find the new form. Every
stored message carries its whole payload: recompute from it.

Revision ID: 0002
Revises: 0001
Create Date: written by hand
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from rapport.delivery.domain import names
from rapport.delivery.domain.model import Channel, MessageContent, payload_fingerprint

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

messages = sa.table(
    "messages",
    sa.column("id", sa.String),
    sa.column("workspace", sa.String),
    sa.column("customer_id", sa.String),
    sa.column("purpose", sa.String),
    sa.column("channel", sa.String),
    sa.column("payload_fingerprint", sa.String),
    sa.column("subject", sa.Text),
    sa.column("text_body", sa.Text),
    sa.column("html_body", sa.Text),
    sa.column("data", sa.Text),
    sa.column("source", sa.Text),
)


def upgrade() -> None:
    bind = op.get_bind()
    after = ""
    while True:
        rows = (
            bind.execute(
                sa.select(messages)
                .where(messages.c.id > after)
                .order_by(messages.c.id)
                .limit(_BATCH)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        for row in rows:
            fingerprint = payload_fingerprint(
                customer=names.customer_name(row["workspace"], row["customer_id"]),
                purpose=row["purpose"],
                channel=Channel(row["channel"]),
                content=MessageContent(row["subject"], row["text_body"], row["html_body"]),
                data=json.loads(row["data"]),
                source=row["source"],
            )
            bind.execute(
                sa.update(messages)
                .where(messages.c.id == row["id"])
                .values(payload_fingerprint=fingerprint)
            )
        after = rows[-1]["id"]


def downgrade() -> None:
    # The old form needs the original request bytes, which were never stored.
    pass
