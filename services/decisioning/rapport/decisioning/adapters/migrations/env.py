"""Alembic environment of the decisioning service (applied at start-up by bootstrap)."""

from rapport.decisioning.adapters.tables import metadata
from rapport.sqlstore import run_alembic_env

run_alembic_env(metadata)
