"""Alembic environment of the profile service."""

from rapport.profile.adapters.tables import metadata
from rapport.sqlstore import run_alembic_env

run_alembic_env(metadata)
