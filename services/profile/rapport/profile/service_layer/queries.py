"""GetProfile (through its cache), GetEvent, ListEvents: reads that follow the merges
profile knows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rapport.errors import InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.adapters.profile_cache import EncodedProfile
from rapport.profile.domain import names
from rapport.profile.domain.computed import next_day_start
from rapport.profile.domain.model import ProfileView, StoredEvent
from rapport.profile.domain.traits import visible
from rapport.resourcenames import require_workspace

from . import commands
from .computed_traits import values_of
from .dependencies import Dependencies
from .unit_of_work import ProfileUnitOfWork

# Room kept in a ListEvents page for its next_page_token (tokens take about 200 bytes).
_TOKEN_ROOM = 1024


@dataclass(frozen=True)
class EventPage:
    # The events, encoded by deps.encoder.
    events: list[Any]
    next_page_token: str


async def get_profile(cmd: commands.GetProfile, deps: Dependencies) -> EncodedProfile:
    """GetProfile's answer, serialized: from the cache when it holds the profile under
    the customer's current version; otherwise read, and cached under the version taken
    before reading."""
    ref = names.parse_profile(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    key = (ref.workspace, ref.customer_id)
    now = deps.clock()
    [lookup] = await deps.profile_cache.get_many([key], now=now)
    if lookup.value is not None:
        return lookup.value
    async with deps.uow(readonly=True) as uow:
        view = await read_profile(uow, ref.workspace, ref.customer_id, now=now)
    if view is None:
        raise NotFound(cmd.name)
    encoded = (deps.encoder.profile(view), view.valid_until)
    # A merged-away customer's profile is its survivor's: a change of the survivor
    # would not invalidate it under this key, so it is not cached.
    if view.customer_id == ref.customer_id:
        await deps.profile_cache.put_many([(key, lookup.tag, encoded)], now=now)
    return encoded


# Profiles of one BatchGetProfiles at most (AIP-231).
MAX_BATCH_GET = 1000


async def batch_get_profiles(
    cmd: commands.BatchGetProfiles, deps: Dependencies
) -> list[EncodedProfile]:
    """BatchGetProfiles' answers, serialized, in request order: one cache lookup for all,
    the misses read in one unit of work; all or nothing (NotFound for the first name
    without a profile)."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    if not 1 <= len(cmd.names) <= MAX_BATCH_GET:
        raise InvalidArgument("names", f"must hold 1 to {MAX_BATCH_GET:,} names")
    keys = []
    for index, name in enumerate(cmd.names):
        ref = names.parse_profile(name, field=f"names[{index}]")
        if ref.workspace != workspace:
            raise InvalidArgument(f"names[{index}]", f"must be a profile of {cmd.parent}")
        keys.append((workspace, ref.customer_id))
    now = deps.clock()
    lookups = await deps.profile_cache.get_many(keys, now=now)
    answers: dict[tuple[str, str], EncodedProfile] = {}
    missing = {}
    for key, lookup in zip(keys, lookups, strict=True):
        if lookup.value is not None:
            answers[key] = lookup.value
        else:
            missing[key] = lookup.tag
    if missing:
        fresh = []
        async with deps.uow(readonly=True) as uow:
            for key, tag in missing.items():
                view = await read_profile(uow, workspace, key[1], now=now)
                if view is None:
                    raise NotFound(cmd.names[keys.index(key)])
                answers[key] = (deps.encoder.profile(view), view.valid_until)
                # As in get_profile: a merged-away customer's answer is not cached.
                if view.customer_id == key[1]:
                    fresh.append((key, tag, answers[key]))
        await deps.profile_cache.put_many(fresh, now=now)
    return [answers[key] for key in keys]


async def read_profile(
    uow: ProfileUnitOfWork, workspace: str, customer_id: str, *, now: datetime | None = None
) -> ProfileView | None:
    """The profile of the customer (or of the one it was merged into); None without events.
    ``now``: the time computed traits are valued at (default: the current time)."""
    now = now or datetime.now(UTC)
    survivor = await uow.profiles.survivor_of(workspace, customer_id)
    summary = (await uow.traits.summaries_of(workspace, [survivor])).get(survivor)
    if summary is None:
        return None
    traits = (await uow.traits.of_customers.read(workspace, [survivor]))[survivor]
    memberships = (await uow.groups.memberships_of(workspace, [survivor]))[survivor]
    segments = (await uow.segments.memberships_of(workspace, [survivor]))[survivor]
    stage = (await uow.segments.states_of(workspace, [survivor])).get(survivor, "")
    computed = (await values_of(uow, workspace, [survivor], now))[survivor]
    return ProfileView(
        workspace,
        survivor,
        visible(traits),
        summary.event_count,
        summary.first_seen_time,
        summary.last_seen_time,
        tuple(memberships),
        tuple(sorted(segments)),
        stage,
        computed,
        # Values of computed traits move at the next UTC midnight (days leave windows).
        next_day_start(now) if computed else None,
    )


async def get_event(cmd: commands.GetEvent, deps: Dependencies) -> StoredEvent:
    """The event, named by its customer or by any customer merged into it."""
    ref = names.parse_event(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        customer_id = await uow.profiles.survivor_of(ref.workspace, ref.customer_id)
        event = await uow.profiles.get_event(ref.workspace, ref.event_id)
    if event is None or event.customer_id != customer_id:
        raise NotFound(cmd.name)
    return event


async def list_events(cmd: commands.ListEvents, deps: Dependencies) -> EventPage:
    """A page of at most ``page_size`` events whose response stays within
    deps.list_page_max_bytes (at least one event, however large); the token
    continues after the last event returned."""
    parent = names.parse_events_parent(cmd.parent, field="parent")
    workspace = parent.workspace
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    position = deps.page_tokens.decode(cmd.page_token, bound_to=cmd.parent)
    before = keyset_position(position, "s", int)

    async with deps.uow(readonly=True) as uow:
        customer_id = (
            await uow.profiles.survivor_of(workspace, parent.customer_id)
            if parent.customer_id is not None
            else None
        )
        found = await uow.profiles.list_events(
            workspace, customer_id, before=before, limit=size + 1
        )
    encoded = _encode_within(found[:size], deps.list_page_max_bytes - _TOKEN_ROOM, deps)
    _, token = paginate(
        found, len(encoded), _position, tokens=deps.page_tokens, bound_to=cmd.parent
    )
    return EventPage(encoded, token)


def _encode_within(events: list[StoredEvent], budget: int, deps: Dependencies) -> list[Any]:
    """The encoded leading events whose entries fit in ``budget`` bytes (at least one)."""
    encoded: list[Any] = []
    used = 0
    for event in events:
        message = deps.encoder.event(event)
        used += deps.encoder.event_entry_size(message)
        if encoded and used > budget:
            break
        encoded.append(message)
    return encoded


def _position(event: StoredEvent) -> dict[str, Any]:
    return {"t": event.event_time.isoformat(), "s": event.seq}


def keyset_position(
    position: dict[str, Any] | None, tie: str, tie_type: type
) -> tuple[datetime, Any] | None:
    """(time, tie) of a page token's position ``{"t": iso time, tie: value}``; None for
    the first page; InvalidArgument for a position this service did not write."""
    if position is None:
        return None
    try:
        moment = datetime.fromisoformat(position["t"])
        value = tie_type(position[tie])
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument("page_token", "is not a token returned by this method") from None
    if moment.tzinfo is None:
        raise InvalidArgument("page_token", "is not a token returned by this method")
    return moment, value
