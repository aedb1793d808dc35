"""Idempotency keys of customers erased before this revision become their erased form.

Erasure now replaces a message's idempotency key (often built from personal data) by a
keyed digest (domain.erased_keys), in the message and in the keys in force. Tombstones
erased earlier still hold the raw key: the secret is generated here (as the first
replica would), and each of their keys is replaced as an erasure now does.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import os
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from rapport.delivery.domain.erased_keys import ERASED_KEY_PREFIX, SECRET_NAME, ErasedKeys

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

messages = sa.table(
    "messages",
    sa.column("id", sa.String),
    sa.column("workspace", sa.String),
    sa.column("idempotency_key", sa.String),
    sa.column("erase_time", sa.DateTime(timezone=True)),
)
idempotency_keys = sa.table(
    "idempotency_keys",
    sa.column("workspace", sa.String),
    sa.column("idempotency_key", sa.String),
    sa.column("message_id", sa.String),
)
signing_keys = sa.table(
    "signing_keys",
    sa.column("name", sa.String),
    sa.column("secret", sa.String),
    sa.column("create_time", sa.DateTime(timezone=True)),
)


def _secret(bind: sa.Connection) -> bytes:
    # Migrations run one at a time (an advisory lock on PostgreSQL): read, else store.
    kept = bind.scalar(sa.select(signing_keys.c.secret).where(signing_keys.c.name == SECRET_NAME))
    if kept is None:
        kept = os.urandom(32).hex()
        bind.execute(
            signing_keys.insert().values(
                name=SECRET_NAME, secret=kept, create_time=datetime.now(UTC)
            )
        )
    return bytes.fromhex(kept)


def upgrade() -> None:
    bind = op.get_bind()
    erased_keys = ErasedKeys(_secret(bind))
    after = ""
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.workspace, messages.c.idempotency_key)
            .where(
                messages.c.id > after,
                messages.c.erase_time.is_not(None),
                messages.c.idempotency_key.not_like(f"{ERASED_KEY_PREFIX}%"),
            )
            .order_by(messages.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for message_id, workspace, key in rows:
            erased_key = erased_keys.digest(workspace, key)
            bind.execute(
                sa.update(messages)
                .where(messages.c.id == message_id)
                .values(idempotency_key=erased_key)
            )
            bind.execute(
                sa.update(idempotency_keys)
                .where(
                    idempotency_keys.c.workspace == workspace,
                    idempotency_keys.c.idempotency_key == key,
                    idempotency_keys.c.message_id == message_id,
                )
                .values(idempotency_key=erased_key)
            )
        after = rows[-1][0]


def downgrade() -> None:
    # A digest cannot be turned back into the key it was made from.
    pass
