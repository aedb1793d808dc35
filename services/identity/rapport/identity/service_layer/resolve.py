"""Resolve, BatchResolve, and the explicit merges of deduplication jobs and match reviews.

Every call is one unit of work: the part of the graph it touches is loaded in a few
bulk queries, the workspace's identity rules are applied by the pure domain
(domain/resolution.py) and the journal is written with a handful of executemany
statements. What changed is recorded on the unit and published once it commits
(graph_changes.py). Resolve first tries the identifier cache: a fast path for
observations that would write nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

from rapport.errors import InvalidArgument
from rapport.identity.adapters.graph_repository import StaleGraph
from rapport.identity.domain import names
from rapport.identity.domain.attributes import validate_attributes
from rapport.identity.domain.model import Customer, Observation
from rapport.identity.domain.resolution import IdentityGraph, Journal, Outcome, Rejection
from rapport.identity.domain.rules import IdentityRules
from rapport.resourcenames import require_workspace
from rapport.sqlstore import TransientConflict

from . import commands
from .dependencies import Dependencies
from .unit_of_work import STALE_READ, IdentityUnitOfWork, with_retries

_log = logging.getLogger(__name__)

MAX_BATCH_REQUESTS = 1000
MAX_SOURCE_LENGTH = 256
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ResolveResult:
    workspace: str
    # None when every identifier was rejected, or one was in an all-or-nothing
    # observation: nothing was created or changed, and that is an answer (with
    # ``rejected``), not an error.
    customer: Customer | None
    created: bool
    merged_customer_ids: tuple[str, ...]
    rejected: tuple[Rejection, ...] = ()

    @property
    def merged_customer_names(self) -> list[str]:
        return [names.customer_name(self.workspace, m) for m in self.merged_customer_ids]


@dataclass(frozen=True)
class MergeOutcome:
    survivor: str | None
    merged: list[str]
    refused: list[tuple[str, str]]  # (customer id, reason: LIMIT_EXCEEDED, KEPT_APART, NOT_FOUND)
    customer: Customer | None = None


# --- Resolve / BatchResolve ----------------------------------------------------------------


async def resolve(cmd: commands.Resolve, deps: Dependencies) -> ResolveResult:
    workspace = _workspace(cmd.parent, deps)
    rules = await deps.rules.get(workspace)
    observation = _observation(cmd, deps, rules, prefix="")
    # Fast path: every identifier cached to one live customer, nothing to store.
    cached, tags = await _cached_resolve(deps, workspace, observation, rules)
    if cached is not None:
        return ResolveResult(workspace, cached, created=False, merged_customer_ids=())
    [outcome] = await _resolve_in_order(deps, workspace, rules, [observation])
    if outcome.customer is not None:
        # Cache the observation's identifiers that ended on the customer.
        linked = set(outcome.customer.identifiers)
        await deps.cache.put_many(
            workspace,
            [
                (identifier, tag, outcome.customer.id)
                for identifier, tag in zip(observation.identifiers, tags, strict=True)
                if identifier in linked
            ],
        )
    return ResolveResult(
        workspace, outcome.customer, outcome.created, outcome.merged_customer_ids, outcome.rejected
    )


async def batch_resolve(cmd: commands.BatchResolve, deps: Dependencies) -> list[ResolveResult]:
    """All requests are validated first, then resolved in order in ONE unit of work.

    All-or-nothing: one transaction (one commit) per batch is what makes large
    batches fast, and a failure never leaves half a batch applied.
    """
    workspace = _workspace(cmd.parent, deps)
    if len(cmd.requests) > MAX_BATCH_REQUESTS:
        raise InvalidArgument("requests", f"at most {MAX_BATCH_REQUESTS} requests per batch")
    rules = await deps.rules.get(workspace)
    observations = []
    for index, request in enumerate(cmd.requests):
        prefix = f"requests[{index}]."
        if request.parent and request.parent != cmd.parent:
            raise InvalidArgument(f"{prefix}parent", "must be empty or equal to the batch parent")
        observations.append(_observation(request, deps, rules, prefix=prefix))
    if not observations:
        return []
    outcomes = await _resolve_in_order(deps, workspace, rules, observations)
    return [
        ResolveResult(workspace, o.customer, o.created, o.merged_customer_ids, o.rejected)
        for o in outcomes
    ]


def _workspace(parent: str, deps: Dependencies) -> str:
    workspace = names.parse_workspace(parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    return workspace


def _observation(
    cmd: commands.Resolve, deps: Dependencies, rules: IdentityRules, *, prefix: str
) -> Observation:
    identifiers = rules.normalise_all(
        ((raw.type, raw.value) for raw in cmd.identifiers), field=f"{prefix}identifiers"
    )
    if len(cmd.source) > MAX_SOURCE_LENGTH:
        raise InvalidArgument(f"{prefix}source", f"longer than {MAX_SOURCE_LENGTH} characters")
    if "\x00" in cmd.source:
        raise InvalidArgument(f"{prefix}source", "must not contain NUL characters")
    attributes = validate_attributes(cmd.attributes, field=f"{prefix}attributes")
    observe_time = cmd.observe_time or deps.clock()
    return Observation(
        identifiers,
        cmd.source,
        observe_time.astimezone(UTC),
        attributes,
        link_all_or_nothing=cmd.link_all_or_nothing,
    )


async def _cached_resolve(
    deps: Dependencies, workspace: str, observation: Observation, rules: IdentityRules
) -> tuple[Customer | None, list[object]]:
    """(customer or None, cache tag per identifier) when nothing would be written.

    That is: every identifier cached to one customer still holding them, and no
    attributes to store. The tags are for caching what the full path finds.
    """
    if any(rules.is_blocked(identifier) for identifier in observation.identifiers):
        # Rules changed since these were linked: the full path reports the rejection.
        return None, [None] * len(observation.identifiers)
    lookups = await deps.cache.get_many(workspace, list(observation.identifiers))
    tags = [tag for _, tag in lookups]
    customer_ids = {customer_id for customer_id, _ in lookups}
    if observation.attributes or len(customer_ids) != 1 or None in customer_ids:
        return None, tags
    [customer_id] = customer_ids
    async with deps.uow_factory(readonly=True) as uow:
        found = await uow.identities.customers_by_id(workspace, [customer_id])
    if not found or not set(observation.identifiers) <= set(found[0].identifiers):
        return None, [None] * len(tags)
    return found[0], tags


async def _resolve_in_order(
    deps: Dependencies,
    workspace: str,
    rules: IdentityRules,
    observations: Sequence[Observation],
) -> list[Outcome]:
    """Resolve in order in ONE unit of work: later observations see earlier ones' effects."""
    observed = {i for observation in observations for i in observation.identifiers}

    async def work(uow: IdentityUnitOfWork) -> tuple[list[Outcome], Journal]:
        # Every identifier of the unit, locked up front in one sorted statement:
        # overlapping units queue in one global order instead of deadlocking.
        await uow.identities.lock_identifiers(workspace, observed)
        try:
            graph = await uow.graph.load_for_identifiers(workspace, observed, rules)
        except StaleGraph as exc:
            # A customer found was merged by a transaction that committed after our
            # snapshot: redo the unit (releasing every lock) rather than re-read
            # while holding locks taken out of order.
            raise TransientConflict(STALE_READ) from exc
        outcomes = []
        now = deps.clock()
        for observation in observations:
            outcomes.append(graph.resolve(observation, now, deps.new_id))
            # Strictly increasing within the unit: customers created earlier in a
            # batch are older, so they survive merges with later ones.
            now = max(deps.clock(), now + ONE_MICROSECOND)
        await _write(uow, graph)
        return outcomes, graph.journal

    outcomes, journal = await with_retries(deps.uow_factory, work)
    if journal.new_customers or journal.merges:
        _log.info(
            "identity graph changed",
            extra={
                "workspace": workspace,
                "count": len(journal.new_customers) + len(journal.merges),
            },
        )
    return outcomes


async def _write(uow: IdentityUnitOfWork, graph: IdentityGraph) -> None:
    """Write the graph's journal and record what caches and watchers must learn."""
    await uow.graph.write(graph)
    journal = graph.journal
    uow.changes.record(graph.workspace, journal.moved_identifiers, logged=bool(journal.changes))


# --- merges of deduplication jobs and match reviews ----------------------------------------


async def merge_customers(cmd: commands.MergeCustomers, deps: Dependencies) -> MergeOutcome:
    """Merge customers into the oldest, under the same rules as Resolve (limits, separations).

    Customers already merged resolve to the customer they live in; unknown ids
    are refused with NOT_FOUND. Refused customers stay as they are.
    """
    (outcome,) = await merge_customer_groups(
        commands.MergeCustomerGroups(
            cmd.workspace, [cmd.customer_ids], source=cmd.source, reason=cmd.reason
        ),
        deps,
    )
    return outcome


async def merge_customer_groups(
    cmd: commands.MergeCustomerGroups, deps: Dependencies
) -> list[MergeOutcome]:
    """merge_customers for many groups in one unit of work (deduplication jobs merge
    thousands of clusters: one transaction each would dominate the job's time)."""
    workspace = cmd.workspace
    rules = await deps.rules.get(workspace)
    every_id = list(dict.fromkeys(c for group in cmd.groups for c in group))

    async def work(uow: IdentityUnitOfWork) -> list[MergeOutcome]:
        try:
            graph = await uow.graph.load_customers_graph(workspace, every_id, rules)
        except StaleGraph as exc:
            raise TransientConflict(STALE_READ) from exc
        outcomes = []
        for customer_ids in cmd.groups:
            refused = [
                (c, "NOT_FOUND") for c in dict.fromkeys(customer_ids) if c not in graph.customers
            ]
            live = list(
                dict.fromkeys(graph.live_id(c) for c in customer_ids if c in graph.customers)
            )
            now = deps.clock()
            survivor, merged, kept = graph.plan_merge(live, now)
            refused += [(customer_id, str(why)) for customer_id, why in kept]
            customer = None
            if survivor is not None:
                customer = graph.merge(survivor, merged, source=cmd.source, now=now)
            outcomes.append(MergeOutcome(survivor, merged, refused, customer))
        await _write(uow, graph)
        return outcomes

    outcomes = await with_retries(deps.uow_factory, work)
    merged_count = sum(len(outcome.merged) for outcome in outcomes)
    if merged_count:
        _log.info(
            "customers merged",
            extra={"workspace": workspace, "count": merged_count, "error_reason": cmd.reason},
        )
    return outcomes
