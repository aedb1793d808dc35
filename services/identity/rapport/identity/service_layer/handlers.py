"""One function per use case: validate everything, then change the graph in one unit of work."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from rapport.errors import Aborted, InvalidArgument, NotFound
from rapport.identity.adapters.repository import IdentityRepository
from rapport.identity.domain.identifiers import IdentifierPolicy
from rapport.identity.domain.model import (
    ChangeKind,
    Customer,
    CustomerRecord,
    Identifier,
    IdentityChange,
    Observation,
)
from rapport.identity.domain.resolution import plan_resolution
from rapport.pagination import decode_page_token, encode_page_token, page_size
from rapport.resourcenames import format_name, parse_name, require_workspace

from . import commands
from .unit_of_work import ConcurrentUpdate, IdentityUnitOfWork

_log = logging.getLogger(__name__)

WORKSPACE = "workspaces/{workspace}"
CUSTOMER = "workspaces/{workspace}/customers/{customer}"
MAX_BATCH_REQUESTS = 1000
MAX_SOURCE_LENGTH = 256
# Whole-unit-of-work retries after losing a race (unique identifier, deadlock).
MAX_RETRIES = 3
# A customer found was merged meanwhile: expected under contention and cheap to
# redo (the merge has committed), so it has its own, larger budget.
STALE_READ = "STALE_READ"
MAX_STALE_RETRIES = 10

T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IdentityContext:
    """What the handlers need, wired by bootstrap (or by a test)."""

    uow_factory: Callable[..., IdentityUnitOfWork]  # called as uow_factory(readonly=...)
    policy: IdentifierPolicy
    workspaces: frozenset[str]
    clock: Callable[[], datetime] = field(default=_utc_now)


@dataclass(frozen=True)
class ResolveResult:
    customer: Customer
    created: bool
    merged_customer_ids: tuple[str, ...]


@dataclass(frozen=True)
class CustomerPage:
    customers: list[Customer]
    next_page_token: str


# --- Resolve / BatchResolve -------------------------------------------------


async def resolve(command: commands.Resolve, ctx: IdentityContext) -> ResolveResult:
    workspace = _workspace(command.parent, ctx, field="parent")
    observation = _observation(command, ctx, prefix="")
    [result] = await _resolve_in_order(ctx, workspace, [observation])
    return result


async def batch_resolve(
    command: commands.BatchResolve, ctx: IdentityContext
) -> list[ResolveResult]:
    """All requests are validated first, then resolved in order in ONE unit of work.

    All-or-nothing: one transaction (one commit) per batch is what makes large
    batches fast, and a failure never leaves half a batch applied.
    """
    workspace = _workspace(command.parent, ctx, field="parent")
    if len(command.requests) > MAX_BATCH_REQUESTS:
        raise InvalidArgument("requests", f"at most {MAX_BATCH_REQUESTS} requests per batch")
    observations = []
    for index, request in enumerate(command.requests):
        prefix = f"requests[{index}]."
        if request.parent and request.parent != command.parent:
            raise InvalidArgument(f"{prefix}parent", "must be empty or equal to the batch parent")
        observations.append(_observation(request, ctx, prefix=prefix))
    if not observations:
        return []
    return await _resolve_in_order(ctx, workspace, observations)


def _observation(command: commands.Resolve, ctx: IdentityContext, *, prefix: str) -> Observation:
    identifiers = ctx.policy.normalise_all(
        ((raw.type, raw.value) for raw in command.identifiers), field=f"{prefix}identifiers"
    )
    if len(command.source) > MAX_SOURCE_LENGTH:
        raise InvalidArgument(f"{prefix}source", f"longer than {MAX_SOURCE_LENGTH} characters")
    observe_time = command.observe_time or ctx.clock()
    return Observation(identifiers, command.source, observe_time.astimezone(UTC))


async def _resolve_in_order(
    ctx: IdentityContext, workspace: str, observations: Sequence[Observation]
) -> list[ResolveResult]:
    async def work(uow: IdentityUnitOfWork) -> list[ResolveResult]:
        # Every identifier of the unit, locked up front in one sorted pass:
        # overlapping units queue in one global order instead of deadlocking.
        await uow.identities.lock_identifiers(
            workspace, (i for observation in observations for i in observation.identifiers)
        )
        return [
            await _resolve_one(uow.identities, workspace, observation, ctx.clock())
            for observation in observations
        ]

    return await _with_retries(ctx, work)


async def _resolve_one(
    repository: IdentityRepository, workspace: str, observation: Observation, now: datetime
) -> ResolveResult:
    links = await _current_links(repository, workspace, observation.identifiers)
    plan = plan_resolution(observation.identifiers, links)

    if plan.survivor is None:
        record = CustomerRecord(id=uuid.uuid4().hex, create_time=now, update_time=now)
        await repository.add_customer(workspace, record)
        await repository.link(workspace, record.id, plan.to_link, now)
        await repository.record_changes(
            workspace, [IdentityChange(ChangeKind.CREATED, record.id)], now
        )
        _log.info(
            "customer created",
            extra={"workspace": workspace, "customer": record.id, "count": len(plan.to_link)},
        )
        # Same order as storage reads return: link time, then type and value.
        customer = Customer(record.id, now, now, tuple(sorted(plan.to_link)))
        return ResolveResult(customer, created=True, merged_customer_ids=())

    survivor = plan.survivor
    merged_ids = tuple(customer.id for customer in plan.absorbed)
    if merged_ids:
        await repository.merge(workspace, survivor.id, merged_ids, observation, now)
        await repository.record_changes(
            workspace,
            [IdentityChange(ChangeKind.MERGED, survivor.id, merged) for merged in merged_ids],
            now,
        )
        _log.info(
            "customers merged",
            extra={"workspace": workspace, "customer": survivor.id, "count": len(merged_ids)},
        )
    await repository.link(workspace, survivor.id, plan.to_link, now)
    if plan.changes_anything:
        await repository.touch(workspace, survivor.id, now)
        survivor = replace(survivor, update_time=now)
    [customer] = await repository.load_customers(workspace, [survivor])
    return ResolveResult(customer, created=False, merged_customer_ids=merged_ids)


async def _current_links(
    repository: IdentityRepository, workspace: str, observed: Sequence[Identifier]
) -> dict[Identifier, CustomerRecord]:
    """Known identifiers and their customers, whose rows are now locked by us.

    On PostgreSQL a concurrent merge may commit between our snapshot and our
    lock: the locked row then shows the customer merged. Starting the unit of
    work again (releasing every lock) beats re-reading while holding locks
    taken out of order, which deadlocks.
    """
    links = await repository.find_links(workspace, observed, lock_customers=True)
    if not all(customer.live for _, customer in links):
        raise ConcurrentUpdate(STALE_READ)
    return dict(links)


async def _with_retries(
    ctx: IdentityContext, work: Callable[[IdentityUnitOfWork], Awaitable[T]]
) -> T:
    retries = {STALE_READ: 0}
    conflicts = 0
    while True:
        try:
            async with ctx.uow_factory(readonly=False) as uow:
                result = await work(uow)
                await uow.commit()
                return result
        except ConcurrentUpdate as exc:
            if exc.reason == STALE_READ:
                retries[STALE_READ] += 1
                exhausted = retries[STALE_READ] > MAX_STALE_RETRIES
            else:
                conflicts += 1
                exhausted = conflicts > MAX_RETRIES
            if exhausted:
                raise Aborted(
                    "CONCURRENT_UPDATE",
                    "concurrent updates of the same customers kept conflicting; retry the call",
                ) from exc
            _log.info(
                "retrying after a concurrent update",
                extra={"attempt": retries[STALE_READ] + conflicts, "error_reason": exc.reason},
            )


# --- Reads -------------------------------------------------------------------


async def get_customer(command: commands.GetCustomer, ctx: IdentityContext) -> Customer:
    ids = parse_name(CUSTOMER, command.name, field="name")
    require_workspace(ids["workspace"], ctx.workspaces)
    async with ctx.uow_factory(readonly=True) as uow:
        record = await _survivor(
            uow.identities,
            ids["workspace"],
            await uow.identities.get_record(ids["workspace"], ids["customer"]),
        )
        if record is None:
            raise NotFound(command.name)
        [customer] = await uow.identities.load_customers(ids["workspace"], [record])
    return customer


async def lookup_customer(command: commands.LookupCustomer, ctx: IdentityContext) -> Customer:
    workspace = _workspace(command.parent, ctx, field="parent")
    identifier = ctx.policy.normalise(
        command.identifier.type, command.identifier.value, field="identifier"
    )
    async with ctx.uow_factory(readonly=True) as uow:
        links = await uow.identities.find_links(workspace, [identifier])
        record = await _survivor(uow.identities, workspace, links[0][1] if links else None)
        if record is None:
            # Never echo the identifier: it is personal data.
            raise NotFound(
                format_name(WORKSPACE, workspace=workspace) + "/customers",
                "no customer has this identifier",
            )
        [customer] = await uow.identities.load_customers(workspace, [record])
    return customer


async def list_customers(command: commands.ListCustomers, ctx: IdentityContext) -> CustomerPage:
    workspace = _workspace(command.parent, ctx, field="parent")
    size = page_size(command.page_size)
    bound_to = f"ListCustomers:{command.parent}"
    after = _decode_position(decode_page_token(command.page_token, bound_to=bound_to))
    async with ctx.uow_factory(readonly=True) as uow:
        records = await uow.identities.list_live(workspace, after, size + 1)
        page = records[:size]
        customers = await uow.identities.load_customers(workspace, page)
    next_token = ""
    if len(records) > size:
        last = page[-1]
        next_token = encode_page_token(
            {"t": last.create_time.isoformat(), "c": last.id}, bound_to=bound_to
        )
    return CustomerPage(customers, next_token)


def _decode_position(position: dict[str, object] | None) -> tuple[datetime, str] | None:
    if position is None:
        return None
    try:
        after_time = datetime.fromisoformat(str(position["t"])).astimezone(UTC)
        after_id = str(position["c"])
    except (KeyError, ValueError) as exc:
        raise InvalidArgument("page_token", "is not a token returned by this method") from exc
    return after_time, after_id


async def _survivor(
    repository: IdentityRepository, workspace: str, record: CustomerRecord | None
) -> CustomerRecord | None:
    """Follow merged_into to the live customer (None if the chain is broken)."""
    seen: set[str] = set()
    while record is not None and record.merged_into is not None:
        if record.id in seen:  # a cycle would be a bug; never loop forever on it
            return None
        seen.add(record.id)
        record = await repository.get_record(workspace, record.merged_into)
    return record


def _workspace(parent: str, ctx: IdentityContext, *, field: str) -> str:
    workspace = parse_name(WORKSPACE, parent, field=field)["workspace"]
    require_workspace(workspace, ctx.workspaces)
    return workspace
