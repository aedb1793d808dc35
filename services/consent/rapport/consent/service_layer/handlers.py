"""One function per use case: `async def use_case(cmd, deps) -> result`.

Every input is validated before anything is written.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from rapport.consent.adapters.cache import CacheInvalidationError, VersionTag
from rapport.consent.domain import names
from rapport.consent.domain.model import (
    ConsentDecision,
    ConsentEntry,
    ConsentKey,
    CurrentState,
    current_state,
    decide,
    entry_in_force_at,
)
from rapport.consent.domain.validation import (
    MAX_NOTICE_VERSION_CHARS,
    MAX_PROOF_CHARS,
    MAX_SOURCE_CHARS,
    effective_time_or_default,
    require_channel,
    require_state,
    validate_batch_size,
    validate_channel,
    validate_purpose,
    validate_text,
)
from rapport.consent.service_layer import commands
from rapport.consent.service_layer.dependencies import Dependencies
from rapport.errors import InvalidArgument, NotFound, Unavailable
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsentRecordsPage:
    entries: list[ConsentEntry]
    next_page_token: str


# --- RecordConsent / GetConsentRecord / ListConsentRecords ----------------------------------


async def record_consent(cmd: commands.RecordConsent, deps: Dependencies) -> ConsentEntry:
    customer = names.parse_customer(cmd.parent, field="parent")
    require_workspace(customer.workspace, deps.workspaces)
    purpose = validate_purpose(cmd.purpose, "record.purpose")
    channel = require_channel(cmd.channel, "record.channel")
    state = require_state(cmd.state, "record.state")
    source = validate_text(cmd.source, "record.source", max_chars=MAX_SOURCE_CHARS, required=True)
    notice_version = validate_text(
        cmd.notice_version, "record.notice_version", max_chars=MAX_NOTICE_VERSION_CHARS
    )
    proof = validate_text(cmd.proof, "record.proof", max_chars=MAX_PROOF_CHARS)

    async with deps.uow_factory() as uow:
        # A customer merged into another records as the survivor (identity would now
        # answer the survivor for it); every customer of the group answers differently.
        group = await uow.aliases.group(customer.workspace, customer.customer)
        # Read the clock once the write is ours, so record times follow ledger order
        # on SQLite (writers are serialised there).
        record_time = deps.clock()
        effective_time = effective_time_or_default(
            cmd.effective_time, record_time, "record.effective_time"
        )
        entry = await uow.ledger.add(
            ConsentEntry(
                id=deps.new_id(),
                workspace=customer.workspace,
                customer_id=group.survivor,
                purpose=purpose,
                channel=channel,
                state=state,
                source=source,
                notice_version=notice_version,
                proof=proof,
                effective_time=effective_time,
                record_time=record_time,
            )
        )
        # Fenced before the commit: were this process killed between the commit and
        # the invalidation below, no replica could answer from the old state.
        fence = await _fence_or_refuse(deps, customer.workspace, group)
        await uow.commit()
    deps.notifier.notify()

    try:
        # The group is read again once the entry is committed: a merge committed
        # meanwhile (PostgreSQL) made the survivor answer with this entry too, and a
        # check that read the survivor before the commit may have cached it.
        async with deps.uow_factory(readonly=True) as uow:
            group_now = await uow.aliases.group(customer.workspace, customer.customer)
        for customer_id in dict.fromkeys((*group, *group_now)):
            await deps.cache.invalidate(customer.workspace, customer_id, fence)
    except CacheInvalidationError as exc:
        # Acknowledging now could let another replica answer from the old state.
        _log.error(
            "consent recorded but cache invalidation failed",
            extra={
                "customer": customer.customer,
                "resource": entry.name,
                "error_reason": str(exc),
            },
        )
        raise Unavailable(
            "CACHE_INVALIDATION_FAILED",
            f"{entry.name} was recorded, but cached consent states could not be "
            "invalidated; retry the call (recording the same decision again is harmless)",
        ) from exc

    _log.info(
        "consent recorded",
        extra={
            "workspace": customer.workspace,
            "customer": customer.customer,
            "purpose": purpose,
            "channel": channel.value,
            "resource": entry.name,
        },
    )
    return entry


async def _fence_or_refuse(
    deps: Dependencies, workspace: str, customers: Sequence[str]
) -> str | None:
    try:
        return await deps.cache.fence(workspace, customers)
    except CacheInvalidationError as exc:
        raise Unavailable(
            "CACHE_INVALIDATION_FAILED",
            f"the consent cache could not be fenced ({exc.cause_name}); nothing was "
            "recorded, retry the call",
        ) from exc


async def get_consent_record(cmd: commands.GetConsentRecord, deps: Dependencies) -> ConsentEntry:
    name = names.parse_consent_record(cmd.name, field="name")
    require_workspace(name.workspace, deps.workspaces)
    async with deps.uow_factory(readonly=True) as uow:
        entry = await uow.ledger.get(name.workspace, name.customer, name.consent_record)
    if entry is None:
        # Also when the entry exists under another customer: the name is wrong.
        raise NotFound(cmd.name)
    return entry


async def list_consent_records(
    cmd: commands.ListConsentRecords, deps: Dependencies
) -> ConsentRecordsPage:
    customer = names.parse_customer(cmd.parent, field="parent")
    require_workspace(customer.workspace, deps.workspaces)
    purpose = validate_purpose(cmd.purpose, "purpose") if cmd.purpose else None
    channel = validate_channel(cmd.channel, "channel") if cmd.channel is not None else None
    size = page_size(cmd.page_size)
    # The token only works for the same customer and filters; tokens are authenticated,
    # so a position is always one this method encoded.
    bound_to = "|".join((cmd.parent, purpose or "", channel.value if channel is not None else ""))
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)

    async with deps.uow_factory(readonly=True) as uow:
        # The decisions of the customer and of those merged into it (or of its survivor).
        entries = await uow.ledger.list_by_customer(
            customer.workspace,
            await uow.aliases.group(customer.workspace, customer.customer),
            purpose=purpose,
            channel=channel,
            before_seq=position["before_seq"] if position is not None else None,
            limit=size + 1,
        )
    page, next_page_token = paginate(
        entries, size, _list_position, tokens=deps.page_tokens, bound_to=bound_to
    )
    return ConsentRecordsPage(page, next_page_token)


def _list_position(entry: ConsentEntry) -> dict[str, int]:
    return {"before_seq": entry.seq}


# --- CheckConsent / BatchCheckConsent -----------------------------------------------------


def _check_target(
    cmd: commands.CheckConsent,
    deps: Dependencies,
    *,
    field_prefix: str = "",
    workspace: str | None = None,
) -> tuple[ConsentKey, datetime | None]:
    customer = names.parse_customer(cmd.customer, field=f"{field_prefix}customer")
    if workspace is None:
        require_workspace(customer.workspace, deps.workspaces)
    elif customer.workspace != workspace:
        raise InvalidArgument(
            f"{field_prefix}customer", f"must be in {names.workspace_name(workspace)}"
        )
    purpose = validate_purpose(cmd.purpose, f"{field_prefix}purpose")
    channel = require_channel(cmd.channel, f"{field_prefix}channel")
    key = ConsentKey(customer.workspace, customer.customer, purpose, channel)
    return key, cmd.check_time


async def check_consent(cmd: commands.CheckConsent, deps: Dependencies) -> ConsentDecision:
    key, at = _check_target(cmd, deps)
    if at is not None:
        # Past states are not cached: reconstructed from the ledger every time, with
        # the merges consent had applied by then (a later merge's entries never
        # answered for this customer at that moment).
        async with deps.uow_factory(readonly=True) as uow:
            group = await uow.aliases.group(key.workspace, key.customer_id, at=at)
            return decide(await uow.ledger.entry_in_force_at(key, at, group))

    now = deps.clock()
    [(cached, version)] = await deps.cache.get_many([key], now)
    if cached is not None:
        return decide(cached.entry)
    async with deps.uow_factory(readonly=True) as uow:
        # The newest decision of the customer's group (identity's merges) answers.
        group = await uow.aliases.group(key.workspace, key.customer_id)
        state = await uow.ledger.current_state(key, now, group)
    await deps.cache.put_many([(key, version, state)], now)
    return decide(state.entry)


async def batch_check_consent(
    cmd: commands.BatchCheckConsent, deps: Dependencies
) -> list[ConsentDecision]:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    validate_batch_size(len(cmd.requests), "requests")
    targets = [
        _check_target(request, deps, field_prefix=f"requests[{i}].", workspace=workspace)
        for i, request in enumerate(cmd.requests)
    ]

    now = deps.clock()
    decisions: list[ConsentDecision | None] = [None] * len(targets)
    current = [i for i, (_key, at) in enumerate(targets) if at is None]
    versions: dict[int, VersionTag] = {}
    lookups = await deps.cache.get_many([targets[i][0] for i in current], now)
    for i, (cached, version) in zip(current, lookups, strict=True):
        if cached is not None:
            decisions[i] = decide(cached.entry)
        else:
            versions[i] = version

    unanswered = [i for i, decision in enumerate(decisions) if decision is None]
    if unanswered:
        # One query for every check the cache could not answer.
        async with deps.uow_factory(readonly=True) as uow:
            # The groups now, and for past checks as they were at each check's moment.
            groups = await uow.aliases.groups_at(
                workspace, {(targets[i][0].customer_id, targets[i][1]) for i in unanswered}
            )
            entries = await uow.ledger.entries_for_keys(
                workspace,
                [
                    (c, key.purpose, key.channel)
                    for key, at in (targets[i] for i in unanswered)
                    for c in groups[(key.customer_id, at)]
                ],
            )
        by_member: dict[ConsentKey, list[ConsentEntry]] = defaultdict(list)
        for entry in entries:
            if entry.channel is not None:  # always: the query names known channels
                by_member[entry.key].append(entry)

        def group_entries(key: ConsentKey, at: datetime | None) -> list[ConsentEntry]:
            group = groups[(key.customer_id, at)]
            return [e for c in group for e in by_member[replace(key, customer_id=c)]]

        fresh: dict[ConsentKey, tuple[ConsentKey, VersionTag, CurrentState]] = {}
        for i in unanswered:
            key, at = targets[i]
            if at is not None:
                decisions[i] = decide(entry_in_force_at(group_entries(key, at), at))
            else:
                state = current_state(group_entries(key, None), now)
                decisions[i] = decide(state.entry)
                fresh[key] = (key, versions[i], state)
        await deps.cache.put_many(list(fresh.values()), now)

    return [decision for decision in decisions if decision is not None]
