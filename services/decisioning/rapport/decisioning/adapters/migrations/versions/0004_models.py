"""Models: model specs, bandit sufficient statistics, what the models saw and said in
each decision.

Decisions stored before keep NULL in `scoring`: no model scored them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("scoring", sa.JSON, nullable=True))
    op.create_table(
        "models",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("model_id", sa.String(63), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("onnx_model", sa.LargeBinary, nullable=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_statistics",
        sa.Column("workspace", sa.String(128), primary_key=True),
        sa.Column("model_id", sa.String(63), primary_key=True),
        sa.Column("action_id", sa.String(63), primary_key=True),
        sa.Column("xtx", sa.LargeBinary, nullable=False),
        sa.Column("xr", sa.LargeBinary, nullable=False),
        sa.Column("xsum", sa.LargeBinary, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_statistics")
    op.drop_table("models")
    op.drop_column("decisions", "scoring")
