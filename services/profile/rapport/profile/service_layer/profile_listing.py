"""ListProfiles: the profiles of a workspace in customer order, with the fields asked."""

from __future__ import annotations

from dataclasses import dataclass

from rapport.errors import InvalidArgument
from rapport.pagination import page_size, paginate
from rapport.profile.domain import names
from rapport.profile.domain.model import ProfileView
from rapport.profile.domain.profile_selection import ProfileSelection, parse_read_mask
from rapport.resourcenames import parse_name, require_workspace

from . import commands
from .dependencies import Dependencies

# A trait key longer than this is held by nobody (keys are bounded at ingestion far
# below); refused rather than looked up.
MAX_TRAIT_KEY_LENGTH = 1024


@dataclass(frozen=True)
class ProfilePage:
    # Each with the selected traits; the summary fields not selected are not sent.
    profiles: list[ProfileView]
    selection: ProfileSelection
    next_page_token: str


def _has_trait(value: str) -> str:
    if "\x00" in value:
        raise InvalidArgument("has_trait", "must not contain NUL characters")
    if len(value) > MAX_TRAIT_KEY_LENGTH:
        raise InvalidArgument("has_trait", f"must be at most {MAX_TRAIT_KEY_LENGTH} characters")
    return value


async def list_profiles(cmd: commands.ListProfiles, deps: Dependencies) -> ProfilePage:
    workspace = parse_name(names.ALL_CUSTOMERS, cmd.parent, field="parent")["workspace"]
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    has_trait = _has_trait(cmd.has_trait)
    selection = parse_read_mask(cmd.read_mask)
    # A token goes on only the listing it came from (same filter and fields).
    bound_to = f"profiles:{cmd.parent}:{has_trait}:{selection.binding()}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    after = ""
    if position is not None:
        after = position.get("c")
        if not isinstance(after, str):
            raise InvalidArgument("page_token", "is not a token returned by this method")
    async with deps.uow(readonly=True) as uow:
        rows = await uow.listing.profiles_after(workspace, after, size + 1, has_trait)
        page, token = paginate(
            rows, size, lambda r: {"c": r.customer_id}, tokens=deps.page_tokens, bound_to=bound_to
        )
        keys = selection.trait_keys_to_read
        held = await uow.traits.of_customers.read(workspace, [r.customer_id for r in page], keys)
    views = [
        ProfileView(
            workspace,
            row.customer_id,
            {key: trait for key, trait in held[row.customer_id].items() if not trait.removed},
            row.summary.event_count,
            row.summary.first_seen_time,
            row.summary.last_seen_time,
        )
        for row in page
    ]
    return ProfilePage(views, selection, token)
