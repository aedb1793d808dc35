"""Alembic environment of the consent service."""

from rapport.consent.adapters.tables import metadata
from rapport.sqlstore import run_alembic_env

run_alembic_env(metadata)
