"""One function per use case. Every input is validated before anything is written."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rapport.consent.adapters.cache import CacheInvalidationError, StateCache
from rapport.consent.domain.model import (
    CUSTOMER_PATTERN,
    MAX_NOTICE_VERSION_CHARS,
    MAX_PROOF_CHARS,
    MAX_SOURCE_CHARS,
    ConsentDecision,
    ConsentEntry,
    ConsentKey,
    CurrentState,
    current_state,
    decide,
    effective_time_or_default,
    entry_in_force_at,
    require_channel,
    require_state,
    validate_purpose,
    validate_text,
)
from rapport.consent.service_layer import commands
from rapport.consent.service_layer.unit_of_work import ConsentUnitOfWork
from rapport.errors import InvalidArgument, Unavailable
from rapport.pagination import decode_page_token, encode_page_token, page_size
from rapport.resourcenames import parse_name, require_workspace

_log = logging.getLogger(__name__)

MAX_BATCH_CHECKS = 1000
WORKSPACE_PATTERN = "workspaces/{workspace}"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_record_id() -> str:
    return uuid.uuid4().hex


@dataclass
class ConsentDependencies:
    """What the handlers need, wired by bootstrap (or by tests)."""

    uow_factory: Callable[..., ConsentUnitOfWork]  # (readonly: bool = False)
    cache: StateCache
    workspaces: Collection[str]
    clock: Clock = utc_now
    new_id: Callable[[], str] = field(default=new_record_id)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[ConsentEntry]
    next_page_token: str


# --- RecordConsent ------------------------------------------------------------------------


async def record_consent(cmd: commands.RecordConsent, deps: ConsentDependencies) -> ConsentEntry:
    ids = parse_name(CUSTOMER_PATTERN, cmd.parent, field="parent")
    workspace, customer_id = ids["workspace"], ids["customer"]
    require_workspace(workspace, deps.workspaces)
    purpose = validate_purpose(cmd.purpose, "record.purpose")
    channel = require_channel(cmd.channel, "record.channel")
    state = require_state(cmd.state, "record.state")
    source = validate_text(cmd.source, "record.source", max_chars=MAX_SOURCE_CHARS, required=True)
    notice_version = validate_text(
        cmd.notice_version, "record.notice_version", max_chars=MAX_NOTICE_VERSION_CHARS
    )
    proof = validate_text(cmd.proof, "record.proof", max_chars=MAX_PROOF_CHARS)

    async with deps.uow_factory() as uow:
        # Read the clock once the write is ours, so record times follow ledger order
        # on SQLite (writers are serialised there).
        record_time = deps.clock()
        effective_time = effective_time_or_default(
            cmd.effective_time, record_time, "record.effective_time"
        )
        entry = await uow.ledger.add(
            ConsentEntry(
                id=deps.new_id(),
                workspace=workspace,
                customer_id=customer_id,
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
        await uow.commit()

    try:
        await deps.cache.invalidate(workspace, customer_id)
    except CacheInvalidationError as exc:
        # Acknowledging now could let another replica answer from the old state.
        _log.error(
            "consent recorded but cache invalidation failed",
            extra={"customer": customer_id, "resource": entry.name, "error_reason": str(exc)},
        )
        raise Unavailable(
            "CACHE_INVALIDATION_FAILED",
            f"{entry.name} was recorded, but cached consent states could not be "
            "invalidated; retry the call (recording the same decision again is harmless)",
        ) from exc

    _log.info(
        "consent recorded",
        extra={
            "workspace": workspace,
            "customer": customer_id,
            "purpose": purpose,
            "channel": channel.value,
            "resource": entry.name,
        },
    )
    return entry


# --- CheckConsent / BatchCheckConsent -----------------------------------------------------


def _check_target(
    cmd: commands.CheckConsent,
    deps: ConsentDependencies,
    *,
    field_prefix: str = "",
    workspace: str | None = None,
) -> tuple[ConsentKey, datetime | None]:
    ids = parse_name(CUSTOMER_PATTERN, cmd.customer, field=f"{field_prefix}customer")
    if workspace is None:
        require_workspace(ids["workspace"], deps.workspaces)
    elif ids["workspace"] != workspace:
        raise InvalidArgument(f"{field_prefix}customer", f"must be in workspaces/{workspace}")
    purpose = validate_purpose(cmd.purpose, f"{field_prefix}purpose")
    channel = require_channel(cmd.channel, f"{field_prefix}channel")
    return ConsentKey(ids["workspace"], ids["customer"], purpose, channel), cmd.time


async def check_consent(cmd: commands.CheckConsent, deps: ConsentDependencies) -> ConsentDecision:
    key, at = _check_target(cmd, deps)
    if at is not None:
        # Past states are not cached: reconstructed from the ledger every time.
        async with deps.uow_factory(readonly=True) as uow:
            return decide(await uow.ledger.entry_in_force_at(key, at))

    now = deps.clock()
    [(cached, version)] = await deps.cache.get_many([key], now)
    if cached is not None:
        return decide(cached.entry)
    async with deps.uow_factory(readonly=True) as uow:
        state = await uow.ledger.current_state(key, now)
    await deps.cache.put_many([(key, version, state)], now)
    return decide(state.entry)


async def batch_check_consent(
    cmd: commands.BatchCheckConsent, deps: ConsentDependencies
) -> list[ConsentDecision]:
    workspace = parse_name(WORKSPACE_PATTERN, cmd.parent, field="parent")["workspace"]
    require_workspace(workspace, deps.workspaces)
    if len(cmd.requests) > MAX_BATCH_CHECKS:
        raise InvalidArgument("requests", f"must hold at most {MAX_BATCH_CHECKS} checks")
    targets = [
        _check_target(request, deps, field_prefix=f"requests[{i}].", workspace=workspace)
        for i, request in enumerate(cmd.requests)
    ]

    now = deps.clock()
    decisions: list[ConsentDecision | None] = [None] * len(targets)
    current = [i for i, (_key, at) in enumerate(targets) if at is None]
    versions = {}
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
            keys = [targets[i][0] for i in unanswered]
            entries = await uow.ledger.entries_for_keys(
                workspace, [(k.customer_id, k.purpose, k.channel) for k in keys]
            )
        by_key: dict[ConsentKey, list[ConsentEntry]] = defaultdict(list)
        for entry in entries:
            by_key[entry.key].append(entry)
        fresh: dict[ConsentKey, tuple[ConsentKey, object, CurrentState]] = {}
        for i in unanswered:
            key, at = targets[i]
            if at is not None:
                decisions[i] = decide(entry_in_force_at(by_key[key], at))
            else:
                state = current_state(by_key[key], now)
                decisions[i] = decide(state.entry)
                fresh[key] = (key, versions[i], state)
        await deps.cache.put_many(list(fresh.values()), now)

    return [decision for decision in decisions if decision is not None]


# --- ListConsentHistory -------------------------------------------------------------------


async def list_consent_history(
    cmd: commands.ListConsentHistory, deps: ConsentDependencies
) -> HistoryPage:
    ids = parse_name(CUSTOMER_PATTERN, cmd.parent, field="parent")
    require_workspace(ids["workspace"], deps.workspaces)
    purpose = validate_purpose(cmd.purpose, "purpose") if cmd.purpose else None
    size = page_size(cmd.page_size)
    # The token only works for the same customer and filters.
    bound_to = "|".join(
        (cmd.parent, purpose or "", cmd.channel.value if cmd.channel is not None else "")
    )
    position = decode_page_token(cmd.page_token, bound_to=bound_to)
    before_seq: int | None = None
    if position is not None:
        before_seq = position.get("before_seq")
        if not isinstance(before_seq, int) or isinstance(before_seq, bool):
            raise InvalidArgument("page_token", "is not a token returned by this method")

    async with deps.uow_factory(readonly=True) as uow:
        entries = await uow.ledger.history(
            ids["workspace"],
            ids["customer"],
            purpose=purpose,
            channel=cmd.channel,
            before_seq=before_seq,
            limit=size + 1,
        )
    next_page_token = ""
    if len(entries) > size:
        entries = entries[:size]
        next_page_token = encode_page_token({"before_seq": entries[-1].seq}, bound_to=bound_to)
    return HistoryPage(entries, next_page_token)
