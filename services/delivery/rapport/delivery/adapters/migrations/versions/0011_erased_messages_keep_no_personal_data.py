"""Messages erased before this revision lose what an erasure now also removes.

An erasure now also empties a message's source (sender's free text), failure detail
(provider text that may quote the address), channel selection (the customer's preferred
channels, consents, reachability) and locale (from traits), replaces its payload
fingerprint (a plain hash of the erased content) by its keyed form (domain.erased_keys,
under the secret revision 0010 stored), and empties the status reasons providers wrote
and the links of clicks in its history. Tombstones erased earlier get the same here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from rapport.delivery.domain.erased_keys import SECRET_NAME, ErasedKeys

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
# domain.status: delivery's own reporter name, and the event whose reason is a link.
_DELIVERY = "delivery"
_CLICKED = "CLICKED"

messages = sa.table(
    "messages",
    sa.column("id", sa.String),
    sa.column("workspace", sa.String),
    sa.column("payload_fingerprint", sa.String),
    sa.column("source", sa.Text),
    sa.column("failure_detail", sa.Text),
    sa.column("channel_selection", sa.Text),
    sa.column("locale", sa.String),
    sa.column("erase_time", sa.DateTime(timezone=True)),
)
history = sa.table(
    "message_status_history",
    sa.column("message_id", sa.String),
    sa.column("status", sa.String),
    sa.column("reason", sa.String),
    sa.column("reporter", sa.String),
)
signing_keys = sa.table(
    "signing_keys",
    sa.column("name", sa.String),
    sa.column("secret", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    # Stored by revision 0010 (the secret erasures and resubmissions use).
    secret = bind.scalar(sa.select(signing_keys.c.secret).where(signing_keys.c.name == SECRET_NAME))
    erased_keys = ErasedKeys(bytes.fromhex(secret))
    after = ""
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.workspace, messages.c.payload_fingerprint)
            .where(messages.c.id > after, messages.c.erase_time.is_not(None))
            .order_by(messages.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for message_id, workspace, fingerprint in rows:
            bind.execute(
                sa.update(messages)
                .where(messages.c.id == message_id)
                .values(
                    payload_fingerprint=erased_keys.fingerprint(workspace, fingerprint),
                    source="",
                    failure_detail="",
                    channel_selection="",
                    locale="",
                )
            )
        bind.execute(
            sa.update(history)
            .where(
                history.c.message_id.in_([row[0] for row in rows]),
                sa.or_(history.c.reporter != _DELIVERY, history.c.status == _CLICKED),
            )
            .values(reason="")
        )
        after = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: a keyed fingerprint cannot be turned back into the one it was
    made from, and what was emptied is gone."""
