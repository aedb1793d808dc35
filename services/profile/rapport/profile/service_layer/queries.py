"""GetProfile, GetEvent, ListEvents: reads that follow the merges profile knows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.errors import InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.domain import names
from rapport.profile.domain.model import ProfileView, StoredEvent
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies

# Room kept in a ListEvents page for its next_page_token (tokens take about 200 bytes).
_TOKEN_ROOM = 1024


@dataclass(frozen=True)
class EventPage:
    # The events, encoded by deps.encoder.
    events: list[Any]
    next_page_token: str


async def get_profile(cmd: commands.GetProfile, deps: Dependencies) -> ProfileView:
    ref = names.parse_profile(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    workspace = ref.workspace
    async with deps.uow(readonly=True) as uow:
        customer_id = await uow.profiles.survivor_of(workspace, ref.customer_id)
        count, first, last = await uow.profiles.event_stats(workspace, customer_id)
        if count == 0 or first is None or last is None:
            raise NotFound(cmd.name)
        traits = (await uow.profiles.traits_of(workspace, [customer_id]))[customer_id]
    return ProfileView(workspace, customer_id, traits, count, first, last)


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
    before = _keyset_position(deps.page_tokens.decode(cmd.page_token, bound_to=cmd.parent))

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


def _keyset_position(position: dict[str, Any] | None) -> tuple[datetime, int] | None:
    if position is None:
        return None
    try:
        moment = datetime.fromisoformat(position["t"])
        seq = int(position["s"])
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument("page_token", "is not a token returned by this method") from None
    if moment.tzinfo is None:
        raise InvalidArgument("page_token", "is not a token returned by this method")
    return moment, seq
