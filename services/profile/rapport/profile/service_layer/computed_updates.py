"""UpdateComputedTrait: a new key renames; a changed definition clears the trait's
buckets, cancels its unfinished backfill job and starts a new one (as at creation)."""

from __future__ import annotations

import logging
from dataclasses import replace

from rapport.errors import AlreadyExists, InvalidArgument, NotFound
from rapport.profile.adapters.profile_cache import customer_scope
from rapport.profile.domain import names
from rapport.profile.domain.computed import BackfillJob, ComputedTrait, check, window_start
from rapport.resourcenames import require_workspace

from . import commands
from .cache_invalidation import fence_before_commit
from .dependencies import Dependencies
from .rule_books import evaluate_again_reading

_log = logging.getLogger(__name__)

_UPDATABLE = ("key", "kind", "window_days", "event", "filter", "property")
# What each event counts for: a change of any of these recounts the stored events.
_COUNTED = frozenset(_UPDATABLE) - {"key"}


async def update_computed_trait(
    cmd: commands.UpdateComputedTrait, deps: Dependencies
) -> ComputedTrait:
    """Update the definition; when what is counted changes, the trait's buckets are
    cleared, its unfinished job cancelled and a new backfill job made (as at creation)."""
    ref = names.parse_computed_trait(cmd.name, field="computed_trait.name")
    require_workspace(ref.workspace, deps.workspaces)
    paths = list(cmd.update_mask) or list(_UPDATABLE)
    for i, path in enumerate(paths):
        if path not in _UPDATABLE:
            raise InvalidArgument(
                f"update_mask.paths[{i}]", f"must be one of {', '.join(_UPDATABLE)}"
            )
    now = deps.clock()
    async with deps.uow() as uow:
        # As at creation: ordered after every ingest that read the old definition.
        await uow.computed.lock_definitions(ref.workspace)
        trait = await uow.computed.get(ref.workspace, ref.trait_id)
        if trait is None:
            raise NotFound(cmd.name)
        fields = {
            "key": trait.key, "kind": trait.kind, "window_days": trait.window_days,
            "event": trait.event, "filter": dict(trait.filter), "property": trait.property,
        }  # fmt: skip
        for path in paths:
            fields[path] = dict(cmd.filter) if path == "filter" else getattr(cmd, path)
        window = check(
            fields["key"], fields["kind"], fields["window_days"], fields["event"],
            fields["filter"], fields["property"], "computed_trait",
        )  # fmt: skip
        updated = replace(trait, **{**fields, "window_days": window})
        if updated == trait:
            return trait
        if updated.key != trait.key and await uow.computed.key_taken(ref.workspace, updated.key):
            raise AlreadyExists(
                cmd.name, f"a computed trait of this workspace already has the key {updated.key!r}"
            )
        recount = any(getattr(updated, f) != getattr(trait, f) for f in _COUNTED)
        holders: list[str] = []
        state = "succeeded"
        if recount:
            holders = await uow.computed.customers_with(ref.workspace, ref.trait_id)
            await uow.backfills.cancel_jobs(ref.workspace, ref.trait_id, now)
            await uow.computed.clear_buckets(ref.workspace, ref.trait_id)
            job_id = f"r{now:%Y%m%d%H%M%S%f}"
            updated = replace(updated, job_id=job_id)
            upto = await uow.backfills.last_event_seq()
            total = await uow.backfills.count_events(updated, window_start(updated, now), upto)
            state = "pending" if total else "succeeded"
            await uow.backfills.create_job(
                BackfillJob(ref.workspace, ref.trait_id, job_id, state, upto, 0, 0, total, now, now)
            )
        if not await uow.computed.update(updated):
            raise NotFound(cmd.name)
        # Values shown in profiles change (a new key, or recounted buckets). Killed
        # after the commit, a retry would find the trait updated and invalidate
        # nothing: the fence keeps those cached profiles from being served meanwhile.
        shown = holders
        if not recount and updated.key != trait.key:
            shown = await uow.computed.customers_with(ref.workspace, ref.trait_id)
        # Rules reading the old key see it gone now; those reading the new one see its
        # values now, or once a recount has counted them (its backfill's end).
        again_keys = {trait.key} if updated.key != trait.key else set()
        if state == "succeeded" and (recount or updated.key != trait.key):
            again_keys.add(updated.key)
        again = await evaluate_again_reading(uow, ref.workspace, again_keys, now)
        fence = await fence_before_commit(deps, ref.workspace, shown)
        await uow.commit()
    if again:
        deps.segment_wakeup.set()
    if recount:
        deps.backfill_wakeup.set()
        _log.info(
            "computed trait redefined",
            extra={"workspace": ref.workspace, "resource": cmd.name},
        )
    if shown:
        await deps.profile_cache.invalidate(
            (customer_scope(ref.workspace, c) for c in shown), fence=fence
        )
    return updated
