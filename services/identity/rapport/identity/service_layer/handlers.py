"""One function per use case: validate everything, then change the graph in one unit of work."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from rapport.commitwatch import CommitNotifier
from rapport.errors import Aborted, InvalidArgument, NotFound
from rapport.identity.adapters.cache import IdentifierCache, NoIdentifierCache
from rapport.identity.adapters.repository import IdentityRepository
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.domain.identifiers import IdentifierPolicy
from rapport.identity.domain.model import (
    Customer,
    CustomerRecord,
    Observation,
)
from rapport.identity.domain.resolution import Rejection
from rapport.identity.domain.rules import IdentityRules
from rapport.pagination import decode_page_token, encode_page_token, page_size
from rapport.resourcenames import format_name, parse_name, require_workspace

from . import commands, lifecycle
from .attributes import validate_attributes
from .resolving import GraphUpdate, resolve_observations
from .rules import RulesCache
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


@dataclass(kw_only=True)
class IdentityContext:
    """What the handlers need, wired by bootstrap (or by a test)."""

    uow_factory: Callable[..., IdentityUnitOfWork]  # called as uow_factory(readonly=...)
    workspaces: frozenset[str]
    clock: Callable[[], datetime] = field(default=_utc_now)
    # Lifecycle (service_layer.lifecycle): identifier -> customer cache, WatchChanges.
    cache: IdentifierCache = field(default_factory=NoIdentifierCache)
    change_notifier: CommitNotifier = field(default_factory=CommitNotifier)
    watch_batch_size: int = 500
    watch_poll_seconds: float = 0.5
    # Identity rules (service_layer.rules): rules of workspaces that never stored
    # their own. None: the shipped YAML defaults, or (tests) the plain rules of
    # ``policy`` when given.
    default_rules: IdentityRules | None = None
    policy: IdentifierPolicy | None = None
    default_phone_region: str = "US"
    # Per-process cache of every workspace's rules (built from the above).
    rules: RulesCache = field(init=False)

    def __post_init__(self) -> None:
        defaults = self.default_rules
        if defaults is None:
            defaults = (
                self.policy.rules
                if self.policy is not None
                else load_default_rules(None, default_phone_region=self.default_phone_region)
            )
        self.rules = RulesCache(
            self.uow_factory, defaults, default_phone_region=self.default_phone_region
        )

    async def after_graph_update(self, update: GraphUpdate) -> None:
        """Called after every committed graph change of the resolve path (lookup cache)."""
        await lifecycle.forget_graph_update(self, update)


@dataclass(frozen=True)
class ResolveResult:
    # None when every identifier was rejected: nothing was created or changed,
    # and that is an answer (with ``rejected``), not an error.
    customer: Customer | None
    created: bool
    merged_customer_ids: tuple[str, ...]
    rejected: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class CustomerPage:
    customers: list[Customer]
    next_page_token: str


# --- Resolve / BatchResolve -------------------------------------------------


async def resolve(command: commands.Resolve, ctx: IdentityContext) -> ResolveResult:
    workspace = _workspace(command.parent, ctx, field="parent")
    rules = await ctx.rules.get(workspace)
    observation = _observation(command, ctx, rules, prefix="")
    # Fast path: every identifier cached to one live customer, nothing to store.
    cached, tags = await lifecycle.cached_resolve_result(ctx, workspace, observation, rules)
    if cached is not None:
        return ResolveResult(cached, created=False, merged_customer_ids=())
    [result] = await _resolve_in_order(ctx, workspace, [observation])
    if result.customer is not None:
        await lifecycle.remember_resolved(ctx, workspace, observation, tags, result.customer)
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
    rules = await ctx.rules.get(workspace)
    observations = []
    for index, request in enumerate(command.requests):
        prefix = f"requests[{index}]."
        if request.parent and request.parent != command.parent:
            raise InvalidArgument(f"{prefix}parent", "must be empty or equal to the batch parent")
        observations.append(_observation(request, ctx, rules, prefix=prefix))
    if not observations:
        return []
    return await _resolve_in_order(ctx, workspace, observations)


def _observation(
    command: commands.Resolve, ctx: IdentityContext, rules: IdentityRules, *, prefix: str
) -> Observation:
    identifiers = rules.normalise_all(
        ((raw.type, raw.value) for raw in command.identifiers), field=f"{prefix}identifiers"
    )
    if len(command.source) > MAX_SOURCE_LENGTH:
        raise InvalidArgument(f"{prefix}source", f"longer than {MAX_SOURCE_LENGTH} characters")
    attributes = validate_attributes(command.attributes, field=f"{prefix}attributes")
    observe_time = command.observe_time or ctx.clock()
    return Observation(identifiers, command.source, observe_time.astimezone(UTC), attributes)


async def _resolve_in_order(
    ctx: IdentityContext, workspace: str, observations: Sequence[Observation]
) -> list[ResolveResult]:
    outcomes, update = await resolve_observations(ctx, workspace, observations)
    await ctx.after_graph_update(update)  # committed: caches forget what changed
    return [
        ResolveResult(o.customer, o.created, o.merged_customer_ids, o.rejected) for o in outcomes
    ]


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
    rules = await ctx.rules.get(workspace)
    identifier = rules.normalise(
        command.identifier.type, command.identifier.value, field="identifier"
    )
    cached, tag = await lifecycle.cached_customer(ctx, workspace, identifier)
    if cached is not None:
        return cached
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
    await lifecycle.remember(ctx, workspace, identifier, tag, customer.id)
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
