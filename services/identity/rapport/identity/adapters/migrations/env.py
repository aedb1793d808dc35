"""Alembic environment of the identity service (run by rapport.sqlstore.migrate)."""

from rapport.identity.adapters.tables import metadata
from rapport.sqlstore import run_alembic_env

run_alembic_env(metadata)
