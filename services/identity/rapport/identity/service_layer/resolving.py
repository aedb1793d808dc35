"""Resolve, BatchResolve and merge_customers: one unit of work, planned in memory, written in bulk.

Every path loads the part of the graph it touches in a few bulk queries,
applies the workspace's identity rules with the pure domain (domain/resolution.py)
and writes the journal with a handful of executemany statements.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from rapport.identity.adapters.graph_repository import GraphRepository, StaleGraph
from rapport.identity.domain.model import Customer, Identifier, Observation
from rapport.identity.domain.resolution import (
    Journal,
    Outcome,
    changed_customer_ids,
)

from .unit_of_work import ConcurrentUpdate, IdentityUnitOfWork

if TYPE_CHECKING:
    from .handlers import IdentityContext

_log = logging.getLogger(__name__)

# Same reason as handlers.STALE_READ: retried with its own budget.
STALE_READ = "STALE_READ"
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class GraphUpdate:
    """What a committed unit of work changed, for caches to forget."""

    workspace: str
    identifiers: frozenset[Identifier]  # linked before, now pointing at another customer
    customer_ids: frozenset[str]  # created, merged away, or changed
    linked: frozenset[Identifier] = frozenset()  # newly linked (no customer before)

    @classmethod
    def of(cls, workspace: str, journal: Journal) -> GraphUpdate:
        return cls(
            workspace,
            frozenset(journal.moved_identifiers),
            frozenset(changed_customer_ids(journal)),
            frozenset(link.identifier for link in journal.new_links),
        )


@dataclass(frozen=True)
class MergeOutcome:
    survivor: str | None
    merged: list[str]
    refused: list[tuple[str, str]]  # (customer id, reason: LIMIT_EXCEEDED, KEPT_APART, NOT_FOUND)
    customer: Customer | None = None


def _new_customer_id() -> str:
    return uuid.uuid4().hex


async def resolve_observations(
    ctx: IdentityContext, workspace: str, observations: Sequence[Observation]
) -> tuple[list[Outcome], GraphUpdate]:
    """Resolve in order in ONE unit of work: later observations see earlier ones' effects."""
    from .handlers import _with_retries  # handlers imports this module

    rules = await ctx.rules.get(workspace)
    observed = {i for observation in observations for i in observation.identifiers}

    async def work(uow: IdentityUnitOfWork) -> tuple[list[Outcome], Journal]:
        # Every identifier of the unit, locked up front in one sorted statement:
        # overlapping units queue in one global order instead of deadlocking.
        await uow.identities.lock_identifiers(workspace, observed)
        repository = GraphRepository(uow.connection)
        try:
            graph = await repository.load_for_identifiers(workspace, observed, rules)
        except StaleGraph as exc:
            # A customer found was merged by a transaction that committed after our
            # snapshot: redo the unit (releasing every lock) rather than re-read
            # while holding locks taken out of order.
            raise ConcurrentUpdate(STALE_READ) from exc
        outcomes = []
        now = ctx.clock()
        for observation in observations:
            outcomes.append(graph.resolve(observation, now, _new_customer_id))
            # Strictly increasing within the unit: customers created earlier in a
            # batch are older, so they survive merges with later ones.
            now = max(ctx.clock(), now + ONE_MICROSECOND)
        await repository.write(workspace, graph)
        return outcomes, graph.journal

    outcomes, journal = await _with_retries(ctx, work)
    _log_journal(workspace, journal)
    # --- committed: the single point where caches learn what changed --------
    update = GraphUpdate.of(workspace, journal)
    await _after_commit(ctx, update)
    return outcomes, update


async def merge_customers(
    ctx: IdentityContext,
    workspace: str,
    customer_ids: Sequence[str],
    *,
    source: str,
    reason: str,
) -> MergeOutcome:
    """Merge customers into the oldest, under the same rules as Resolve (limits, separations).

    Customers already merged resolve to the customer they live in; unknown ids
    are refused with NOT_FOUND. Refused customers stay as they are.
    """
    (outcome,) = await merge_customer_groups(
        ctx, workspace, [customer_ids], source=source, reason=reason
    )
    return outcome


async def merge_customer_groups(
    ctx: IdentityContext,
    workspace: str,
    groups: Sequence[Sequence[str]],
    *,
    source: str,
    reason: str,
) -> list[MergeOutcome]:
    """merge_customers for many groups in one unit of work (deduplication jobs merge
    thousands of clusters: one transaction each would dominate the job's time)."""
    from .handlers import _with_retries  # handlers imports this module

    rules = await ctx.rules.get(workspace)
    every_id = list(dict.fromkeys(c for group in groups for c in group))

    async def work(uow: IdentityUnitOfWork) -> tuple[list[MergeOutcome], Journal]:
        repository = GraphRepository(uow.connection)
        try:
            graph = await repository.load_customers_graph(workspace, every_id, rules)
        except StaleGraph as exc:
            raise ConcurrentUpdate(STALE_READ) from exc
        outcomes = []
        for customer_ids in groups:
            refused = [
                (c, "NOT_FOUND") for c in dict.fromkeys(customer_ids) if c not in graph.customers
            ]
            live = list(
                dict.fromkeys(graph.live_id(c) for c in customer_ids if c in graph.customers)
            )
            now = ctx.clock()
            survivor, merged, kept = graph.plan_merge(live, now)
            refused += [(customer_id, str(why)) for customer_id, why in kept]
            customer = None
            if survivor is not None:
                customer = graph.merge(survivor, merged, source=source, now=now)
            outcomes.append(MergeOutcome(survivor, merged, refused, customer))
        await repository.write(workspace, graph)
        return outcomes, graph.journal

    outcomes, journal = await _with_retries(ctx, work)
    merged_count = sum(len(outcome.merged) for outcome in outcomes)
    if merged_count:
        _log.info(
            "customers merged",
            extra={"workspace": workspace, "count": merged_count, "error_reason": reason},
        )
    # --- committed: the single point where caches learn what changed --------
    await _after_commit(ctx, GraphUpdate.of(workspace, journal))
    return outcomes


async def _after_commit(ctx: IdentityContext, update: GraphUpdate) -> None:
    """Caches forget what a committed unit changed (hook for the lookup cache)."""
    hook = getattr(ctx, "after_graph_update", None)
    if hook is not None:
        await hook(update)


def _log_journal(workspace: str, journal: Journal) -> None:
    if journal.new_customers or journal.merges:
        _log.info(
            "identity graph changed",
            extra={
                "workspace": workspace,
                "count": len(journal.new_customers) + len(journal.merges),
            },
        )
