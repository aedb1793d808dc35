"""SQLAlchemy (async) storage helpers: engines, Alembic migrations, unit of work."""

from ._engine import create_engine, ensure_schema, is_postgres, is_sqlite
from ._migrations import migrate, run_alembic_env
from ._times import as_utc
from ._uow import SqlUnitOfWork

__all__ = [
    "SqlUnitOfWork",
    "as_utc",
    "create_engine",
    "ensure_schema",
    "is_postgres",
    "is_sqlite",
    "migrate",
    "run_alembic_env",
]
