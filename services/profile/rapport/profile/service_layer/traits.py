"""RemoveTraits: removals kept with the time of the call (see domain.traits)."""

from __future__ import annotations

from collections.abc import Sequence

from rapport.errors import InvalidArgument, NotFound
from rapport.profile.adapters.profile_cache import customer_scope
from rapport.profile.domain import names
from rapport.profile.domain.model import ProfileView, SignalKind
from rapport.profile.domain.signals import trait_changed_payload
from rapport.profile.domain.traits import remove_traits as remove_from
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .audiences import Change, apply_changes
from .customer_locks import locked_survivor
from .dependencies import Dependencies
from .queries import read_profile
from .unit_of_work import ProfileUnitOfWork

MAX_KEYS = 100
MAX_KEY_LENGTH = 1000
METHOD = "RemoveTraits"


async def remove_traits(cmd: commands.RemoveTraits, deps: Dependencies) -> ProfileView:
    ref = names.parse_profile(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    keys = _valid_keys(cmd.keys)
    workspace, now = ref.workspace, deps.clock()

    async def attempt(uow: ProfileUnitOfWork) -> tuple[ProfileView, int]:
        customer = await locked_survivor(uow, workspace, ref.customer_id)
        traits = (await uow.traits.of_customers.read(workspace, [customer]))[customer]
        written, changes = remove_from(traits, keys, now=now, method=METHOD)
        await uow.traits.of_customers.save(
            workspace, [(customer, key, traits[key]) for key in written]
        )
        if changes:
            audiences = await apply_changes(
                uow, workspace, now, {customer: Change(keys={c.key for c in changes})}
            )
            await uow.profiles.lock_signal_log()
            await uow.profiles.append_signals(
                workspace,
                [(SignalKind.TRAIT_CHANGED, customer, trait_changed_payload(c)) for c in changes]
                + audiences.signals,
                now,
            )
        view = await read_profile(uow, workspace, customer, now=now)
        if view is None:
            raise NotFound(cmd.name)  # rolls the removal back: no profile, nothing to change
        return view, len(changes)

    view, changed = await run_with_retries(deps.uow, attempt)
    await deps.profile_cache.invalidate(
        {customer_scope(workspace, view.customer_id), customer_scope(workspace, ref.customer_id)}
    )
    if changed:
        deps.notifier.notify()
    return view


def _valid_keys(keys: Sequence[str]) -> list[str]:
    found = list(keys)
    if not found:
        raise InvalidArgument("keys", "at least one trait key is required")
    if len(found) > MAX_KEYS:
        raise InvalidArgument("keys", f"at most {MAX_KEYS} keys per call")
    for n, key in enumerate(found):
        if not key:
            raise InvalidArgument(f"keys[{n}]", "must not be empty")
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidArgument(f"keys[{n}]", f"must be at most {MAX_KEY_LENGTH} characters")
        if "\x00" in key:
            raise InvalidArgument(f"keys[{n}]", "must not contain NUL characters")
    return list(dict.fromkeys(found))
