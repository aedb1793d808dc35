"""SQLAlchemy Core tables of the identity service (mirrored by migrations/versions).

Also what the repositories share: IN-list chunking, writing a row by its key, and the
tables keyed by a pair within a workspace (separations, match reviews, blocked values).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from rapport.sqlstore import in_chunks
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()


async def put_row(
    connection: AsyncConnection, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Set ``values`` on the row with the primary key ``key``, inserting it if missing.

    Two transactions inserting the same new row: the later fails with IntegrityError,
    and its unit of work is redone (service_layer.unit_of_work.with_retries).
    """
    where = [table.c[name] == value for name, value in key.items()]
    changed = await connection.execute(update(table).where(*where).values(**values))
    if changed.rowcount == 0:
        await connection.execute(insert(table).values(**key, **values))


Pair = tuple[str, str]


async def stored_pairs(
    connection: AsyncConnection,
    table: Table,
    columns: Pair,
    workspace: str,
    pairs: Collection[Pair],
) -> set[Pair]:
    """Those of ``pairs`` that ``table`` holds in ``columns`` for the workspace."""
    first, second = table.c[columns[0]], table.c[columns[1]]
    found: set[Pair] = set()
    for chunk in in_chunks(sorted(pairs)):
        rows = await connection.execute(
            select(first, second).where(
                table.c.workspace == workspace, tuple_(first, second).in_(chunk)
            )
        )
        found.update((row[0], row[1]) for row in rows)
    return found


async def add_pairs(
    connection: AsyncConnection,
    table: Table,
    columns: Pair,
    workspace: str,
    pairs: Collection[Pair],
    *,
    reason: str,
    now: datetime,
) -> None:
    """Store the pairs ``table`` does not hold yet, with their reason and time.

    A concurrent writer of the same pair makes the insert fail with IntegrityError:
    the unit of work is then redone (service_layer.unit_of_work.with_retries).
    """
    existing = await stored_pairs(connection, table, columns, workspace, pairs)
    new = sorted(set(pairs) - existing)
    if new:
        await connection.execute(
            insert(table),
            [
                {
                    "workspace": workspace,
                    columns[0]: first,
                    columns[1]: second,
                    "reason": reason,
                    "create_time": now,
                }
                for first, second in new
            ],
        )


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

customers = Table(
    "customers",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    # Set when merged: always the live survivor (chains are compressed on merge).
    Column("merged_into", String(64), nullable=True),
    # PersonAttributes for probabilistic matching, and the observe time that set them.
    Column("attributes", JSON, nullable=True),
    Column("attributes_time", DateTime(timezone=True), nullable=True),
    # Live customers oldest first (ListCustomers) and "merged into X" lookups.
    Index(
        "ix_customers_workspace_merged_into_age",
        "workspace",
        "merged_into",
        "create_time",
        "customer_id",
    ),
)

identifiers = Table(
    "identifiers",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("value", String(512), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("link_time", DateTime(timezone=True), nullable=False),
    # The customer the identifier was first linked to; unmerge sends it back there.
    Column("origin_customer_id", String(64), nullable=True),
    # The graph's core guarantee: an identifier belongs to one customer.
    UniqueConstraint("workspace", "type", "value", name="uq_identifiers_workspace_type_value"),
    Index("ix_identifiers_workspace_customer", "workspace", "customer_id"),
)

merges = Table(
    "merges",
    metadata,
    Column("merge_id", _SEQ, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("survivor_id", String(64), nullable=False),
    Column("merged_id", String(64), nullable=False),
    # The observation that caused the merge: [[type, value], ...], its source and time.
    Column("identifiers", JSON, nullable=False),
    Column("source", String(256), nullable=False),
    Column("observe_time", DateTime(timezone=True), nullable=False),
    Column("merge_time", DateTime(timezone=True), nullable=False),
    # Set when an unmerge undid this merge.
    Column("undone_time", DateTime(timezone=True), nullable=True),
    Index("ix_merges_workspace_survivor", "workspace", "survivor_id"),
    Index("ix_merges_workspace_merged", "workspace", "merged_id"),
)

# Append-only log of graph changes, read from a cursor (seq) by WatchChanges.
identity_changes = Table(
    "identity_changes",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("other_customer_id", String(64), nullable=True),
    Column("change_time", DateTime(timezone=True), nullable=False),
    Index("ix_identity_changes_workspace_seq", "workspace", "seq"),
)

# --- identity rules, unmerge, erasure, probabilistic matching (migration 0002) ---

# One row per workspace whose rules differ from the YAML defaults.
identity_rules = Table(
    "identity_rules",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("rules", JSON, nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
)

# Identifiers erased with block_identifiers: only a digest, never the value.
blocked_identifiers = Table(
    "blocked_identifiers",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("type", String(64), primary_key=True),
    Column("value_digest", String(64), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)

# Pairs of customers that must not be merged again (unmerged, or a rejected
# match review); customer_a < customer_b.
separations = Table(
    "separations",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("customer_a", String(64), primary_key=True),
    Column("customer_b", String(64), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)

deduplication_jobs = Table(
    "deduplication_jobs",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("job_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("merge_threshold", Float, nullable=False),
    Column("review_threshold", Float, nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("candidate_pair_count", BigInteger, nullable=False),
    Column("merged_count", BigInteger, nullable=False),
    Column("review_count", BigInteger, nullable=False),
    Column("error", String(1024), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Index("ix_deduplication_jobs_workspace_created", "workspace", "create_time"),
)

match_reviews = Table(
    "match_reviews",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("review_id", String(64), primary_key=True),
    Column("customer_a", String(64), nullable=False),
    Column("customer_b", String(64), nullable=False),
    Column("probability", Float, nullable=False),
    # match_weight and per-attribute comparisons, as scored.
    Column("details", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("job_id", String(64), nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("review_time", DateTime(timezone=True), nullable=True),
    UniqueConstraint("workspace", "customer_a", "customer_b", name="uq_match_reviews_pair"),
    Index("ix_match_reviews_workspace_state_probability", "workspace", "state", "probability"),
)

# Fellegi-Sunter parameters learned per workspace (m, u, term frequencies).
match_models = Table(
    "match_models",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("parameters", JSON, nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("train_time", DateTime(timezone=True), nullable=False),
)
