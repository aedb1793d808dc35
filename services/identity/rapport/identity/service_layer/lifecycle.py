"""Customer lifecycle: UnmergeCustomer and EraseCustomer.

Both writers lock like Resolve does (the cluster's identifiers in one sorted pass,
then the survivor's row), so an overlapping Resolve either sees the graph before
the unmerge/erasure or after it, never half of it. The identifiers they move or
erase are recorded on the unit of work: the after-commit hook makes caches forget them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.identity.adapters.lifecycle_repository import LinkedIdentifier
from rapport.identity.domain import names
from rapport.identity.domain.lifecycle import plan_unmerge
from rapport.identity.domain.model import ChangeKind, Customer, Identifier, IdentityChange
from rapport.identity.domain.rules import erased_digest
from rapport.resourcenames import require_workspace
from rapport.sqlstore import TransientConflict

from . import commands
from .dependencies import Dependencies
from .unit_of_work import STALE_READ, IdentityUnitOfWork, with_retries

_log = logging.getLogger(__name__)

SEPARATION_REASON = "UNMERGED"
BLOCK_REASON = "ERASED"


@dataclass(frozen=True)
class UnmergeResult:
    customer: Customer
    restored_customers: list[Customer]


@dataclass(frozen=True)
class EraseResult:
    name: str
    erased_identifier_count: int


def _parse_customer(name: str, deps: Dependencies, *, field: str) -> names.CustomerName:
    parsed = names.parse_customer(name, field=field)
    require_workspace(parsed.workspace, deps.workspaces)
    return parsed


async def _lock_live_customer(
    uow: IdentityUnitOfWork, workspace: str, customer_id: str, name: str
) -> list[Identifier]:
    """Lock the customer's identifiers then its row; its identifiers, as of the locks.

    NOT_FOUND when it does not exist, CUSTOMER_MERGED (naming the survivor) when it
    was merged into another customer.
    """
    before = [
        linked.identifier for linked in await uow.lifecycle.identifiers_of(workspace, customer_id)
    ]
    await uow.identities.lock_identifiers(workspace, before)
    state = await uow.lifecycle.lock_customer_row(workspace, customer_id)
    if state is False:
        raise NotFound(name)
    if state is not None:
        survivor = names.customer_name(workspace, str(state))
        raise FailedPrecondition(
            "CUSTOMER_MERGED",
            f"{name} was merged into {survivor}; act on the survivor",
            metadata={"survivor": survivor},
        )
    return before


async def _locked_identifiers(
    uow: IdentityUnitOfWork, workspace: str, customer_id: str, before: list[Identifier]
) -> list[LinkedIdentifier]:
    """The customer's identifiers; start again if one was linked before our locks held."""
    linked = await uow.lifecycle.identifiers_of(workspace, customer_id)
    if {item.identifier for item in linked} != set(before):
        raise TransientConflict(STALE_READ)
    return linked


# --- UnmergeCustomer -------------------------------------------------------------------


async def unmerge_customer(cmd: commands.UnmergeCustomer, deps: Dependencies) -> UnmergeResult:
    """Split customers merged into ``cmd.name`` back off it.

    Each restored customer gets back the identifiers first linked to it (their
    ``origin_customer_id``) and those of customers merged into it before it was
    merged away (they go back with it, following the merges history); identifiers
    first linked to the survivor (also those linked after the merge) stay. The
    undone merges are marked ``undone_time`` (never deleted), the survivor and the
    restored customers are kept apart from now on (separations, reason UNMERGED),
    and one 'unmerged' change per restored customer is logged.

    Attributes: a merge never deletes the merged customer's row, so a restored
    customer gets back the attributes stored on its row (as last observed before
    the merge); the survivor keeps its own.
    """
    named = _parse_customer(cmd.name, deps, field="name")
    workspace, survivor_id = named.workspace, named.customer
    requested: list[str] = []
    for index, name in enumerate(cmd.customers):
        field = f"customers[{index}]"
        other = _parse_customer(name, deps, field=field)
        if other.workspace != workspace:
            raise InvalidArgument(field, "must be a customer merged into `name`")
        if other.customer not in requested:
            requested.append(other.customer)

    async def work(uow: IdentityUnitOfWork) -> UnmergeResult:
        now = deps.clock()
        repository = uow.lifecycle
        before = await _lock_live_customer(uow, workspace, survivor_id, cmd.name)
        cluster = await repository.cluster(workspace, survivor_id)
        if not cluster:
            raise FailedPrecondition(
                "NOTHING_TO_UNMERGE", f"no customer was merged into {cmd.name}"
            )
        members = set(cluster)
        for index, customer_id in enumerate(requested):
            if customer_id not in members:
                raise InvalidArgument(f"customers[{index}]", "is not a customer merged into `name`")
        linked = await _locked_identifiers(uow, workspace, survivor_id, before)
        parents = await repository.active_merge_parents(workspace, cluster)
        plan = plan_unmerge(survivor_id, parents, requested or cluster)

        moves: dict[str, list[Identifier]] = {}
        for item in linked:
            owner = plan.owner_of_origin(item.origin_customer_id)
            if owner != survivor_id:
                moves.setdefault(owner, []).append(item.identifier)
        await repository.move_identifiers(workspace, moves)
        for customer_id in cluster:
            owner = plan.owners.get(customer_id, survivor_id)
            if owner == survivor_id:
                continue
            await repository.set_merged_into(
                workspace, customer_id, None if owner == customer_id else owner, now
            )
        await repository.undo_merges(workspace, plan.restored, now)
        pairs = [(survivor_id, restored) for restored in plan.restored]
        pairs += [(a, b) for i, a in enumerate(plan.restored) for b in plan.restored[i + 1 :]]
        await uow.matching.add_separations(workspace, pairs, SEPARATION_REASON, now)
        await repository.touch(workspace, survivor_id, now)
        loaded = await uow.identities.customers_by_id(workspace, [survivor_id, *plan.restored])
        await repository.append_changes(
            workspace,
            [IdentityChange(ChangeKind.UNMERGED, survivor_id, r) for r in plan.restored],
            now,
        )
        moved = [identifier for identifiers in moves.values() for identifier in identifiers]
        uow.changes.record(workspace, moved, logged=True)
        _log.info(
            "customer unmerged",
            extra={"workspace": workspace, "customer": survivor_id, "count": len(plan.restored)},
        )
        return UnmergeResult(loaded[0], loaded[1:])

    return await with_retries(deps.uow_factory, work)


# --- EraseCustomer ------------------------------------------------------------------------


async def erase_customer(cmd: commands.EraseCustomer, deps: Dependencies) -> EraseResult:
    """Delete a live customer and the customers merged into it (the same person).

    Their identifiers, attributes (customer rows), merges, separations and match
    reviews are deleted; only 'erased' entries of the change log remain (ids, no
    personal data). With ``block_identifiers`` a sha256 digest of each erased
    identifier is kept so Resolve never links it again (ERASED_BLOCKED).
    """
    named = _parse_customer(cmd.name, deps, field="name")
    workspace, customer_id = named.workspace, named.customer

    async def work(uow: IdentityUnitOfWork) -> EraseResult:
        now = deps.clock()
        repository = uow.lifecycle
        before = await _lock_live_customer(uow, workspace, customer_id, cmd.name)
        cluster = await repository.cluster(workspace, customer_id)
        linked = await _locked_identifiers(uow, workspace, customer_id, before)
        erased = [item.identifier for item in linked]
        # The customers merged into it are the same person: erased with it.
        customer_ids = [customer_id, *cluster]
        count = await repository.erase(workspace, customer_ids)
        if cmd.block_identifiers:
            await repository.block(
                workspace,
                [(identifier.type, erased_digest(identifier)) for identifier in erased],
                BLOCK_REASON,
                now,
            )
        await repository.append_changes(
            workspace,
            [IdentityChange(ChangeKind.ERASED, erased_id) for erased_id in customer_ids],
            now,
        )
        uow.changes.record(workspace, erased, logged=True)
        _log.info(
            "customer erased",
            extra={"workspace": workspace, "customer": customer_id, "count": count},
        )
        return EraseResult(cmd.name, count)

    return await with_retries(deps.uow_factory, work)
