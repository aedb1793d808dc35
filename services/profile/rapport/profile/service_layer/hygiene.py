"""Data subject requests (ExportProfile, EraseProfile) and data hygiene: the workspace
policy (event retention, inactivity), the inactive customers, and the background sweep
that applies the policy in chunks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.adapters.hygiene_repository import EventRow, InactiveRow
from rapport.profile.adapters.profile_cache import customer_scope
from rapport.profile.domain import names
from rapport.profile.domain.documents import format_time
from rapport.profile.domain.hygiene import HygienePolicy, InactivityAction, validated_policy
from rapport.profile.domain.model import Trait
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .cache_invalidation import fence_before_commit, invalidate_after_commit
from .customer_locks import locked_survivor, read_with_customers_locked
from .customer_state import Erased, derived_export, erase_customer
from .dependencies import Dependencies
from .inactivity import erase_inactive
from .queries import keyset_position
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

UPDATABLE_PATHS = ("default_retention_days", "event_retention_days", "inactivity")


@dataclass(frozen=True)
class Export:
    """A page of a customer's export."""

    workspace: str
    customer_id: str
    # The page as a JSON object (the sections, "events").
    data_json: str
    export_time: datetime
    next_page_token: str


@dataclass(frozen=True)
class InactivePage:
    workspace: str
    profiles: list[InactiveRow]
    next_page_token: str


# -- ExportProfile / EraseProfile ------------------------------------------------


async def export_profile(cmd: commands.ExportProfile, deps: Dependencies) -> Export:
    """A page of the export: every section with the first events, then (following
    the page token) the next events alone, oldest first. A page ends after
    ``page_size`` events, or earlier when its response would outgrow a message."""
    ref = names.parse_profile(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    after = keyset_position(deps.page_tokens.decode(cmd.page_token, bound_to=cmd.name), "s", int)
    ws, now = ref.workspace, deps.clock()
    # One snapshot: a merge committing mid-export would otherwise move the data
    # between the survivor's read and the sections' reads.
    async with deps.uow(snapshot=True) as uow:
        customer = await uow.profiles.survivor_of(ws, ref.customer_id)
        rows = await uow.hygiene.events_of(ws, customer, after=after, limit=size + 1)
        if after is None:
            data = await _export(uow, ws, customer, now)
            if data is None:
                raise NotFound(cmd.name)
        else:
            data = {"customer": names.customer_name(ws, customer)}
    sections = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # The events go in as many as fit; the page token needs room too.
    budget = deps.signal_response_max_bytes - _TOKEN_ROOM - len(sections.encode())
    taken: list[str] = []
    for row in rows[:size]:
        encoded = json.dumps(_event(ws, customer, row), ensure_ascii=False, separators=(",", ":"))
        budget -= len(encoded.encode()) + 1
        if budget < 0:
            break
        taken.append(encoded)
    if budget < 0 and not taken:
        raise FailedPrecondition(
            "EXPORT_TOO_LARGE", "a page of the export would not fit in one response message"
        )
    _, token = paginate(
        rows, len(taken), _event_position, tokens=deps.page_tokens, bound_to=cmd.name
    )
    # `"events":[...]` spliced in: each event was encoded once, to measure it.
    text = f'{sections[:-1]},"events":[{",".join(taken)}]}}'
    return Export(ws, customer, text, now, token)


# Room kept in an export page for the rest of the response (name, time, page token).
_TOKEN_ROOM = 1024


def _event_position(row: EventRow) -> dict[str, Any]:
    return {"t": row.timestamp.isoformat(), "s": row.seq}


def _event(ws: str, customer: str, row: EventRow) -> dict[str, Any]:
    return {
        "name": names.event_name(ws, customer, row.event_id),
        "message_id": row.message_id,
        "type": row.type,
        "event": row.event_name,
        "timestamp": format_time(row.timestamp),
        "received_at": format_time(row.received_at),
        "document": row.document,
    }


async def _export(
    uow: ProfileUnitOfWork, ws: str, customer: str, now: datetime
) -> dict[str, Any] | None:
    """Every section but the events (which export_profile pages)."""
    summary = (await uow.traits.summaries_of(ws, [customer])).get(customer)
    traits = (await uow.traits.of_customers.read(ws, [customer]))[customer]
    has_events = bool(await uow.hygiene.events_of(ws, customer, limit=1))
    memberships = (await uow.groups.memberships_of(ws, [customer]))[customer]
    if summary is None and not traits and not has_events and not memberships:
        return None
    groups = await uow.groups.groups_of(ws, list(memberships))
    data: dict[str, Any] = {
        "customer": names.customer_name(ws, customer),
        "profile": None
        if summary is None
        else {
            "event_count": summary.event_count,
            "first_seen_time": format_time(summary.first_seen_time),
            "last_seen_time": format_time(summary.last_seen_time),
        },
        "traits": {key: _trait(t) for key, t in sorted(traits.items())},
        "group_memberships": [
            {
                "group": names.group_name(ws, key),
                "group_id": groups[key].group_id if key in groups else "",
                "join_time": format_time(member.join_time),
                "source_message_id": member.source_message_id,
            }
            for key, member in memberships.items()
        ],
        "merged_customers": [
            names.customer_name(ws, c) for c in await uow.hygiene.merged_into(ws, customer)
        ],
    }
    data.update(await derived_export(uow, ws, customer, now))
    return data


def _trait(trait: Trait) -> dict[str, Any]:
    source = trait.source
    return {
        "value": trait.value,
        "removed": trait.removed,
        "source_message_id": trait.source_message_id,
        "update_time": format_time(trait.update_time),
        "received_at": format_time(trait.received_at),
        "source_event_type": source.event_type.value if source.event_type else "",
        "library_name": source.library_name,
        "library_version": source.library_version,
        "method": source.method,
    }


async def erase_profile(cmd: commands.EraseProfile, deps: Dependencies) -> Erased:
    ref = names.parse_profile(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    return await erase_customers(deps, ref.workspace, ref.customer_id)


async def erase_customers(deps: Dependencies, workspace: str, customer_id: str) -> Erased:
    """Erase the customer (its survivor when merged), then drop it from the cache."""
    now = deps.clock()

    async def attempt(uow: ProfileUnitOfWork) -> tuple[Erased, list[str], str | None]:
        customer = await locked_survivor(uow, workspace, customer_id)
        erased = await erase_customer(uow, workspace, customer, now)
        scopes = [customer, customer_id, *erased.merged_customer_ids]
        # Killed before invalidating, and never retried: the fence still holds.
        return erased, scopes, await fence_before_commit(deps, workspace, scopes)

    erased, scopes, fence = await run_with_retries(deps.uow, attempt)
    await deps.profile_cache.invalidate({customer_scope(workspace, c) for c in scopes}, fence=fence)
    _log.info(
        "customer erased",
        extra={"workspace": workspace, "customer": erased.customer_id, "count": erased.event_count},
    )
    return erased


# -- the policy ----------------------------------------------------------------


async def get_policy(cmd: commands.GetDataHygienePolicy, deps: Dependencies) -> HygienePolicy:
    workspace = names.parse_hygiene_policy(cmd.name, field="name")
    require_workspace(workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        policy = await uow.hygiene.policy(workspace)
    return policy or HygienePolicy(workspace)


async def update_policy(cmd: commands.UpdateDataHygienePolicy, deps: Dependencies) -> HygienePolicy:
    workspace = names.parse_hygiene_policy(cmd.name, field="data_hygiene_policy.name")
    require_workspace(workspace, deps.workspaces)
    paths = _paths(cmd.update_mask)
    validated_policy(cmd.policy, "data_hygiene_policy")
    now = deps.clock()

    async def attempt(uow: ProfileUnitOfWork) -> HygienePolicy:
        current = await uow.hygiene.policy(workspace) or HygienePolicy(workspace)
        sent = cmd.policy
        updated = replace(
            current,
            default_retention_days=sent.default_retention_days
            if "default_retention_days" in paths
            else current.default_retention_days,
            event_retention_days=dict(sent.event_retention_days)
            if "event_retention_days" in paths
            else current.event_retention_days,
            inactivity=sent.inactivity if "inactivity" in paths else current.inactivity,
            update_time=now,
        )
        await uow.hygiene.save_policy(updated)
        return updated

    return await run_with_retries(deps.uow, attempt)


def _paths(mask: tuple[str, ...] | Any) -> set[str]:
    if not mask:
        return set(UPDATABLE_PATHS)
    for n, path in enumerate(mask):
        if path not in UPDATABLE_PATHS:
            raise InvalidArgument(
                f"update_mask.paths[{n}]", f"unknown path; updatable: {', '.join(UPDATABLE_PATHS)}"
            )
    return set(mask)


# -- inactivity ----------------------------------------------------------------


async def list_inactive(cmd: commands.ListInactiveProfiles, deps: Dependencies) -> InactivePage:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"inactive:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    after = ""
    if position is not None:
        after = position.get("c")
        if not isinstance(after, str):
            raise InvalidArgument("page_token", "is not a token returned by this method")
    async with deps.uow(readonly=True) as uow:
        policy = await uow.hygiene.policy(workspace)
        if policy is None or policy.inactivity is None:
            return InactivePage(workspace, [], "")
        rows = await uow.hygiene.inactive(
            workspace, policy.inactivity, deps.clock(), after, size + 1
        )
    page, token = paginate(
        rows, size, lambda r: {"c": r.customer_id}, tokens=deps.page_tokens, bound_to=bound_to
    )
    return InactivePage(workspace, page, token)


# -- the sweep -----------------------------------------------------------------


@dataclass
class SweepStats:
    events_deleted: int = 0
    customers_erased: int = 0
    rounds: int = 0


async def sweep(deps: Dependencies, *, chunk: int, stats: SweepStats | None = None) -> SweepStats:
    """One round over every workspace's policy: events past their retention deleted
    ``chunk`` per transaction (counters follow), then, for DELETE inactivity rules, the
    inactive customers erased one by one."""
    stats = stats or SweepStats()
    async with deps.uow(readonly=True) as uow:
        policies = await uow.hygiene.policies()
    for policy in policies:
        if policy.workspace not in deps.workspaces:
            continue
        stats.events_deleted += await _apply_retention(deps, policy, chunk)
        rule = policy.inactivity
        if rule is not None and rule.action is InactivityAction.DELETE:
            stats.customers_erased += await erase_inactive(deps, policy, chunk)
    stats.rounds += 1
    return stats


async def _apply_retention(deps: Dependencies, policy: HygienePolicy, chunk: int) -> int:
    ws = policy.workspace
    named, default = policy.retention_cutoffs(deps.clock())
    total = 0
    while True:

        async def attempt(uow: ProfileUnitOfWork) -> tuple[int, set[str], str | None]:
            async def expired() -> list[tuple[int, str]]:
                return await uow.hygiene.expired_events(
                    ws, named, policy.event_retention_days, default, chunk
                )

            # The customers whose counters follow are those holding the events now.
            found = await read_with_customers_locked(
                uow, ws, expired, lambda found: (customer for _, customer in found)
            )
            customers = {customer for _, customer in found}
            deleted = await uow.hygiene.delete_events([seq for seq, _ in found])
            # Counters follow the events kept; a customer left without events keeps its
            # traits, and its profile, with a count of 0.
            summaries = await uow.hygiene.event_summaries(ws, customers)
            await uow.hygiene.replace_summaries(ws, summaries)
            await uow.hygiene.set_event_counts(ws, dict.fromkeys(customers - set(summaries), 0))
            # Nothing deletes these events again: one fence for the chunk (a fence that
            # cannot be taken fails the round; the next finds the events still expired).
            return deleted, customers, await fence_before_commit(deps, ws, customers)

        deleted, customers, fence = await run_with_retries(deps.uow, attempt)
        await invalidate_after_commit(deps, ws, customers, fence=fence)
        total += deleted
        if deleted < chunk:
            return total
        await asyncio.sleep(0)  # let requests in between chunks


def hygiene_sweeper(
    deps: Dependencies, *, every: timedelta, chunk: int, stats: SweepStats | None = None
) -> Callable[[], Awaitable[None]]:
    """A background task for ServiceParts: a round at start, then one every ``every``."""
    totals = stats or SweepStats()

    async def sweep_forever() -> None:
        while True:
            try:
                before = (totals.events_deleted, totals.customers_erased)
                await sweep(deps, chunk=chunk, stats=totals)
                if (totals.events_deleted, totals.customers_erased) != before:
                    _log.info(
                        "data hygiene sweep",
                        extra={"count": totals.events_deleted - before[0]},
                    )
            except Exception:
                # A failed round (database briefly away) is retried at the next one.
                _log.exception("data hygiene sweep failed")
            await asyncio.sleep(every.total_seconds())

    return sweep_forever
