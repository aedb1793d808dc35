"""SQLAlchemy (async) storage helpers: engines, Alembic migrations, unit of work,
retries of units that lost a race, advisory locks, inserts that keep an existing row,
values converted for the driver."""

from ._binds import BindProcessor, bind_processor
from ._engine import create_engine, ensure_schema, is_postgres, is_sqlite
from ._in_lists import IN_LIST_CHUNK, in_chunks
from ._inserts import insert_if_absent
from ._locks import advisory_key, advisory_xact_locks
from ._migrations import migrate, run_alembic_env, schema_differences
from ._retry import TransientConflict, database_unreachable, run_with_retries, transient_conflict
from ._times import as_utc
from ._uow import SqlUnitOfWork

__all__ = [
    "IN_LIST_CHUNK",
    "BindProcessor",
    "SqlUnitOfWork",
    "TransientConflict",
    "advisory_key",
    "advisory_xact_locks",
    "as_utc",
    "bind_processor",
    "create_engine",
    "database_unreachable",
    "ensure_schema",
    "in_chunks",
    "insert_if_absent",
    "is_postgres",
    "is_sqlite",
    "migrate",
    "run_alembic_env",
    "run_with_retries",
    "schema_differences",
    "transient_conflict",
]
