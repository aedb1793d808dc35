"""Lifecycle use cases: UnmergeCustomer, EraseCustomer, WatchChanges, and the lookup cache.

Both writers lock like Resolve does (the cluster's identifiers in one sorted pass,
then the survivor's row), so an overlapping Resolve either sees the graph before
the unmerge/erasure or after it, never half of it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from rapport.identity.adapters.cache import CacheInvalidationError
from rapport.identity.adapters.lifecycle_repository import (
    ChangeRow,
    LifecycleRepository,
    LinkedIdentifier,
)
from rapport.identity.domain.lifecycle import plan_unmerge
from rapport.identity.domain.model import (
    ChangeKind,
    Customer,
    Identifier,
    IdentityChange,
    Observation,
)
from rapport.identity.domain.rules import erased_digest
from rapport.resourcenames import parse_name, require_workspace

from . import lifecycle_commands as commands
from .unit_of_work import ConcurrentUpdate, IdentityUnitOfWork

if TYPE_CHECKING:
    from rapport.identity.domain.rules import IdentityRules

    from .handlers import IdentityContext
    from .resolving import GraphUpdate

_log = logging.getLogger(__name__)

CUSTOMER = "workspaces/{workspace}/customers/{customer}"
WORKSPACE = "workspaces/{workspace}"
STALE_READ = "STALE_READ"
SEPARATION_REASON = "UNMERGED"
BLOCK_REASON = "ERASED"
_CURSOR = re.compile(r"[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class UnmergeResult:
    customer: Customer
    restored_customers: list[Customer]


@dataclass(frozen=True)
class EraseResult:
    name: str
    erased_identifier_count: int


@dataclass(frozen=True)
class Change:
    """One entry of WatchChanges: consecutive log rows of one commit, same kind and customer."""

    cursor: int
    kind: ChangeKind
    customer_id: str
    other_customer_ids: tuple[str, ...]
    create_time: datetime


def _customer_name(workspace: str, customer_id: str) -> str:
    return CUSTOMER.format(workspace=workspace, customer=customer_id)


def _parse_customer(name: str, ctx: IdentityContext, *, field: str) -> tuple[str, str]:
    ids = parse_name(CUSTOMER, name, field=field)
    require_workspace(ids["workspace"], ctx.workspaces)
    return ids["workspace"], ids["customer"]


async def _lock_live_customer(
    uow: IdentityUnitOfWork, workspace: str, customer_id: str, name: str
) -> tuple[LifecycleRepository, list[Identifier]]:
    """Lock the customer's identifiers then its row; its identifiers, as of the locks.

    NOT_FOUND when it does not exist, CUSTOMER_MERGED (naming the survivor) when it
    was merged into another customer.
    """
    repository = LifecycleRepository(uow.connection)
    before = [
        linked.identifier for linked in await repository.identifiers_of(workspace, customer_id)
    ]
    await uow.identities.lock_identifiers(workspace, before)
    state = await repository.lock_customer_row(workspace, customer_id)
    if state is False:
        raise NotFound(name)
    if state is not None:
        survivor = _customer_name(workspace, str(state))
        raise FailedPrecondition(
            "CUSTOMER_MERGED",
            f"{name} was merged into {survivor}; act on the survivor",
            metadata={"survivor": survivor},
        )
    return repository, before


async def _locked_identifiers(
    repository: LifecycleRepository, workspace: str, customer_id: str, before: list[Identifier]
) -> list[LinkedIdentifier]:
    """The customer's identifiers; start again if one was linked before our locks held."""
    linked = await repository.identifiers_of(workspace, customer_id)
    if {item.identifier for item in linked} != set(before):
        raise ConcurrentUpdate(STALE_READ)
    return linked


# --- UnmergeCustomer -------------------------------------------------------------


async def unmerge_customer(
    command: commands.UnmergeCustomer, ctx: IdentityContext
) -> UnmergeResult:
    """Split customers merged into ``command.name`` back off it.

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
    from .handlers import _with_retries  # shared retry loop of the resolve path

    workspace, survivor_id = _parse_customer(command.name, ctx, field="name")
    requested: list[str] = []
    for index, name in enumerate(command.customers):
        field = f"customers[{index}]"
        other_workspace, customer_id = _parse_customer(name, ctx, field=field)
        if other_workspace != workspace:
            raise InvalidArgument(field, "must be a customer merged into `name`")
        if customer_id not in requested:
            requested.append(customer_id)
    moved: list[Identifier] = []

    async def work(uow: IdentityUnitOfWork) -> UnmergeResult:
        moved.clear()
        now = ctx.clock()
        repository, before = await _lock_live_customer(uow, workspace, survivor_id, command.name)
        cluster = await repository.cluster(workspace, survivor_id)
        if not cluster:
            raise FailedPrecondition(
                "NOTHING_TO_UNMERGE", f"no customer was merged into {command.name}"
            )
        members = set(cluster)
        for index, customer_id in enumerate(requested):
            if customer_id not in members:
                raise InvalidArgument(f"customers[{index}]", "is not a customer merged into `name`")
        linked = await _locked_identifiers(repository, workspace, survivor_id, before)
        parents = await repository.active_merge_parents(workspace, cluster)
        plan = plan_unmerge(survivor_id, parents, requested or cluster)

        moves: dict[str, list[Identifier]] = {}
        for item in linked:
            owner = plan.owner_of_origin(item.origin_customer_id)
            if owner != survivor_id:
                moves.setdefault(owner, []).append(item.identifier)
                moved.append(item.identifier)
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
        await repository.add_separations(workspace, pairs, SEPARATION_REASON, now)
        await repository.touch(workspace, survivor_id, now)
        loaded = await repository.customer_views(workspace, [survivor_id, *plan.restored])
        await repository.append_changes(
            workspace,
            [IdentityChange(ChangeKind.UNMERGED, survivor_id, r) for r in plan.restored],
            now,
        )
        _log.info(
            "customer unmerged",
            extra={"workspace": workspace, "customer": survivor_id, "count": len(plan.restored)},
        )
        return UnmergeResult(loaded[0], loaded[1:])

    result = await _with_retries(ctx, work)
    await invalidate_identifiers(ctx, workspace, moved)
    return result


# --- EraseCustomer ------------------------------------------------------------------


async def erase_customer(command: commands.EraseCustomer, ctx: IdentityContext) -> EraseResult:
    """Delete a live customer and the customers merged into it (the same person).

    Their identifiers, attributes (customer rows), merges, separations and match
    reviews are deleted; only 'erased' entries of the change log remain (ids, no
    personal data). With ``block_identifiers`` a sha256 digest of each erased
    identifier is kept so Resolve never links it again (ERASED_BLOCKED).
    """
    from .handlers import _with_retries

    workspace, customer_id = _parse_customer(command.name, ctx, field="name")
    erased: list[Identifier] = []

    async def work(uow: IdentityUnitOfWork) -> EraseResult:
        erased.clear()
        now = ctx.clock()
        repository, before = await _lock_live_customer(uow, workspace, customer_id, command.name)
        cluster = await repository.cluster(workspace, customer_id)
        linked = await _locked_identifiers(repository, workspace, customer_id, before)
        erased.extend(item.identifier for item in linked)
        # The customers merged into it are the same person: erased with it.
        customer_ids = [customer_id, *cluster]
        count = await repository.erase(workspace, customer_ids)
        if command.block_identifiers:
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
        _log.info(
            "customer erased",
            extra={"workspace": workspace, "customer": customer_id, "count": count},
        )
        return EraseResult(command.name, count)

    result = await _with_retries(ctx, work)
    await invalidate_identifiers(ctx, workspace, erased)
    return result


# --- cache hooks --------------------------------------------------------------------


async def invalidate_identifiers(
    ctx: IdentityContext, workspace: str, identifiers: Iterable[Identifier]
) -> None:
    """After a commit, before acknowledging: replicas stop trusting the old mappings.

    A failure only costs speed, never correctness: every cache hit is checked
    against the customer's identifiers read from the database (the answer needs
    that read anyway), so a mapping that outlived its change is never served.
    """
    moved = list(identifiers)
    if not moved:
        return
    try:
        await ctx.cache.invalidate(workspace, moved)
    except CacheInvalidationError as exc:
        _log.warning(
            "identity cache invalidation failed; cached lookups are re-checked",
            extra={"workspace": workspace, "count": len(moved), "error_reason": str(exc)},
        )


async def forget_graph_update(ctx: IdentityContext, update: GraphUpdate) -> None:
    """After a Resolve/BatchResolve/merge commit: forget identifiers that changed customer."""
    await invalidate_identifiers(ctx, update.workspace, update.identifiers)


async def cached_resolve_result(
    ctx: IdentityContext, workspace: str, observation: Observation, rules: IdentityRules
) -> tuple[Customer | None, list[object]]:
    """Resolve's fast path, when nothing would be written (see ``cached_resolve``)."""
    if any(rules.is_blocked(identifier) for identifier in observation.identifiers):
        # Rules changed since these were linked: the full path reports the rejection.
        return None, [None] * len(observation.identifiers)
    return await cached_resolve(ctx, workspace, observation, bool(observation.attributes))


async def invalidate_customers(
    ctx: IdentityContext, workspace: str, customer_ids: Sequence[str]
) -> None:
    """For merges outside Resolve (e.g. deduplication, accepted reviews), after commit:
    every identifier now on these customers may have changed customer."""
    if not customer_ids:
        return
    async with ctx.uow_factory(readonly=True) as uow:
        repository = LifecycleRepository(uow.connection)
        identifiers = [
            item.identifier
            for customer_id in customer_ids
            for item in await repository.identifiers_of(workspace, customer_id)
        ]
    await invalidate_identifiers(ctx, workspace, identifiers)


async def cached_customer(
    ctx: IdentityContext, workspace: str, identifier: Identifier
) -> tuple[Customer | None, object]:
    """LookupCustomer through the cache: (customer or None, tag to store a fresh mapping with)."""
    [(customer_id, tag)] = await ctx.cache.get_many(workspace, [identifier])
    if customer_id is None:
        return None, tag
    async with ctx.uow_factory(readonly=True) as uow:
        found = await LifecycleRepository(uow.connection).customer_views(workspace, [customer_id])
    # Cannot miss with a current tag; if it ever does, read the database instead.
    if not found or identifier not in found[0].identifiers:
        return None, None
    return found[0], tag


async def remember(
    ctx: IdentityContext, workspace: str, identifier: Identifier, tag: object, customer_id: str
) -> None:
    await ctx.cache.put_many(workspace, [(identifier, tag, customer_id)])


async def cached_resolve(
    ctx: IdentityContext, workspace: str, observation: Observation, has_attributes: bool
) -> tuple[Customer | None, list[object]]:
    """Resolve's fast path: every identifier cached to one customer and nothing to store.

    Returns (customer or None, tags per identifier). Nothing to write then: the
    identifiers are linked already and no merge is needed.
    """
    lookups = await ctx.cache.get_many(workspace, list(observation.identifiers))
    tags = [tag for _, tag in lookups]
    customer_ids = {customer_id for customer_id, _ in lookups}
    if has_attributes or len(customer_ids) != 1 or None in customer_ids:
        return None, tags
    [customer_id] = customer_ids
    async with ctx.uow_factory(readonly=True) as uow:
        found = await LifecycleRepository(uow.connection).customer_views(workspace, [customer_id])
    if not found or not set(observation.identifiers) <= set(found[0].identifiers):
        return None, [None] * len(tags)
    return found[0], tags


async def remember_resolved(
    ctx: IdentityContext,
    workspace: str,
    observation: Observation,
    tags: Sequence[object],
    customer: Customer,
) -> None:
    """After Resolve: cache the observation's identifiers that ended on the customer."""
    linked = set(customer.identifiers)
    await ctx.cache.put_many(
        workspace,
        [
            (identifier, tag, customer.id)
            for identifier, tag in zip(observation.identifiers, tags, strict=True)
            if identifier in linked
        ],
    )


# --- WatchChanges -------------------------------------------------------------------


async def watch_changes(
    command: commands.WatchChanges, ctx: IdentityContext
) -> AsyncIterator[Change]:
    """Validate, then stream changes after the cursor until cancelled or the server stops."""
    workspace = parse_name(WORKSPACE, command.parent, field="parent")["workspace"]
    require_workspace(workspace, ctx.workspaces)
    after = 0
    if command.start_cursor:
        if not _CURSOR.fullmatch(command.start_cursor):
            raise InvalidArgument("start_cursor", "is not a cursor returned by WatchChanges")
        after = int(command.start_cursor)
        async with ctx.uow_factory(readonly=True) as uow:
            if after > await LifecycleRepository(uow.connection).last_change_seq():
                raise InvalidArgument("start_cursor", "is not a cursor returned by WatchChanges")
    return _follow_changes(ctx, workspace, after)


async def _follow_changes(
    ctx: IdentityContext, workspace: str, after: int
) -> AsyncIterator[Change]:
    notifier = ctx.change_notifier
    while not notifier.closed:
        # Taken before reading, so a commit racing with the read still wakes us.
        ticket = notifier.ticket()
        async with ctx.uow_factory(readonly=True) as uow:
            rows = await LifecycleRepository(uow.connection).changes_after(
                workspace, after, ctx.watch_batch_size
            )
        for change in group_changes(rows):
            yield change
            after = change.cursor
        if rows:
            after = rows[-1].seq  # past rows of kinds this version skips
        if len(rows) < ctx.watch_batch_size:
            await notifier.wait(ticket, ctx.watch_poll_seconds)
    raise Unavailable("SHUTTING_DOWN", "the server is stopping; resume from the last cursor")


def group_changes(rows: Sequence[ChangeRow]) -> list[Change]:
    """Consecutive rows of one commit (same time) with the same kind and customer -> one Change."""
    changes: list[Change] = []
    for row in rows:
        try:
            kind = ChangeKind(row.kind)
        except ValueError:
            continue  # a kind this version does not know: skipped, cursor moves on below
        others = (row.other_customer_id,) if row.other_customer_id else ()
        last = changes[-1] if changes else None
        if (
            last is not None
            and last.kind is kind
            and kind is not ChangeKind.CREATED
            and last.customer_id == row.customer_id
            and last.create_time == row.change_time
            and last.cursor == row.seq - 1
        ):
            changes[-1] = Change(
                row.seq, kind, row.customer_id, last.other_customer_ids + others, row.change_time
            )
        else:
            changes.append(Change(row.seq, kind, row.customer_id, others, row.change_time))
    return changes
