"""Opens and clicks counted per message, repeats included (open_time and click_time
stay the first).

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

_COUNT_COLUMNS = ("open_count", "click_count")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for name in _COUNT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # Messages opened or clicked before this version: each first one was counted.
    for name, status in (("open_count", "OPENED"), ("click_count", "CLICKED")):
        op.execute(
            sa.text(
                f"UPDATE messages SET {name} = 1 WHERE id IN "  # noqa: S608 - constants
                "(SELECT message_id FROM message_status_history WHERE status = :status)"
            ).bindparams(status=status)
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for name in _COUNT_COLUMNS:
            batch.drop_column(name)
