"""Reading customers: GetCustomer, LookupCustomer (through the identifier cache), ListCustomers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rapport.errors import InvalidArgument, NotFound
from rapport.identity.adapters.repository import IdentityRepository
from rapport.identity.domain import names
from rapport.identity.domain.model import Customer, CustomerRecord
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies


@dataclass(frozen=True)
class CustomerPage:
    customers: list[Customer]
    next_page_token: str


async def get_customer(cmd: commands.GetCustomer, deps: Dependencies) -> Customer:
    """The live customer named; a merged customer stands for the customer it lives in."""
    name = names.parse_customer(cmd.name, field="name")
    require_workspace(name.workspace, deps.workspaces)
    async with deps.uow_factory(readonly=True) as uow:
        record = await _survivor(
            uow.identities,
            name.workspace,
            await uow.identities.get_record(name.workspace, name.customer),
        )
        if record is None:
            raise NotFound(cmd.name)
        [customer] = await uow.identities.load_customers(name.workspace, [record])
    return customer


async def lookup_customer(cmd: commands.LookupCustomer, deps: Dependencies) -> Customer:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    rules = await deps.rules.get(workspace)
    identifier = rules.normalise(cmd.identifier.type, cmd.identifier.value, field="identifier")
    [(cached_id, tag)] = await deps.cache.get_many(workspace, [identifier])
    if cached_id is not None:
        async with deps.uow_factory(readonly=True) as uow:
            found = await uow.identities.customers_by_id(workspace, [cached_id])
        if found and identifier in found[0].identifiers:
            return found[0]
        # Cannot miss with a current tag; if it ever does, read the database (and
        # store nothing: the tag is suspect).
        tag = None
    async with deps.uow_factory(readonly=True) as uow:
        links = await uow.identities.find_links(workspace, [identifier])
        record = await _survivor(uow.identities, workspace, links[0][1] if links else None)
        if record is None:
            # Never echo the identifier: it is personal data.
            raise NotFound(names.customers_collection(workspace), "no customer has this identifier")
        [customer] = await uow.identities.load_customers(workspace, [record])
    await deps.cache.put_many(workspace, [(identifier, tag, customer.id)])
    return customer


async def list_customers(cmd: commands.ListCustomers, deps: Dependencies) -> CustomerPage:
    """Live customers, oldest first."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"ListCustomers:{cmd.parent}"
    after = _after(deps.page_tokens.decode(cmd.page_token, bound_to=bound_to))
    async with deps.uow_factory(readonly=True) as uow:
        records = await uow.identities.list_live(workspace, after, size + 1)
        page, next_token = paginate(
            records, size, _position, tokens=deps.page_tokens, bound_to=bound_to
        )
        customers = await uow.identities.load_customers(workspace, page)
    return CustomerPage(customers, next_token)


def _position(record: CustomerRecord) -> dict[str, object]:
    return {"t": record.create_time.isoformat(), "c": record.id}


def _after(position: dict[str, object] | None) -> tuple[datetime, str] | None:
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
