"""Computed traits: CRUD, values at read time (the incremental update of each
ingested batch is computed_batches), and the background backfill of events stored
before a trait was created (a job resumed from its stored position after a restart)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapport.errors import AlreadyExists, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.adapters.computed_repository import BucketKey
from rapport.profile.adapters.profile_cache import customer_scope
from rapport.profile.domain import names
from rapport.profile.domain.computed import (
    BackfillJob,
    Bucket,
    ComputedTrait,
    check,
    first_day,
    values_for,
    window_start,
)
from rapport.profile.domain.documents import event_from_document
from rapport.profile.domain.model import EventType
from rapport.profile.domain.segments import check_resource_id
from rapport.resourcenames import require_workspace
from rapport.sqlstore import as_utc
from rapport.versionedcache import CacheInvalidationError

from . import commands
from .cache_invalidation import fence_before_commit, invalidate_after_commit
from .computed_batches import observe
from .customer_locks import read_with_customers_locked
from .dependencies import Dependencies
from .rule_books import evaluate_again_reading
from .unit_of_work import ProfileUnitOfWork

_log = logging.getLogger(__name__)

_LEASE = timedelta(minutes=5)
_JOB_ID = "initial"


@dataclass(frozen=True)
class TraitPage:
    traits: list[ComputedTrait]
    next_page_token: str


async def create_computed_trait(
    cmd: commands.CreateComputedTrait, deps: Dependencies
) -> ComputedTrait:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    if cmd.trait_id:
        check_resource_id(cmd.trait_id, "computed_trait_id")
    window = check(
        cmd.key, cmd.kind, cmd.window_days, cmd.event, cmd.filter, cmd.property, "computed_trait"
    )
    trait_id = cmd.trait_id or "ct-" + uuid.uuid4().hex[:16]
    now = deps.clock()
    trait = ComputedTrait(
        workspace, trait_id, cmd.key, cmd.kind,  # type: ignore[arg-type]  # checked
        window, cmd.event, dict(cmd.filter), cmd.property, now, _JOB_ID,
    )  # fmt: skip
    async with deps.uow() as uow:
        # Waits for every ingest that read the definitions without this trait; later
        # ones count it: the backfill's bound (the last stored event) splits the events
        # exactly between the backfill and the ingests.
        await uow.computed.lock_definitions(workspace)
        if await uow.computed.key_taken(workspace, cmd.key):
            raise AlreadyExists(
                names.computed_trait_name(workspace, trait_id),
                f"a computed trait of this workspace already has the key {cmd.key!r}",
            )
        if not await uow.computed.create(trait):
            raise AlreadyExists(names.computed_trait_name(workspace, trait_id))
        upto = await uow.backfills.last_event_seq()
        total = await uow.backfills.count_events(trait, window_start(trait, now), upto)
        state = "pending" if total else "succeeded"
        await uow.backfills.create_job(
            BackfillJob(workspace, trait_id, _JOB_ID, state, upto, 0, 0, total, now, now)
        )
        # With events to count, rules reading it are evaluated again once they are.
        again = state == "succeeded" and await evaluate_again_reading(
            uow, workspace, [cmd.key], now
        )
        await uow.commit()
    deps.backfill_wakeup.set()
    if again:
        deps.segment_wakeup.set()
    return trait


async def get_computed_trait(cmd: commands.GetComputedTrait, deps: Dependencies) -> ComputedTrait:
    ref = names.parse_computed_trait(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        trait = await uow.computed.get(ref.workspace, ref.trait_id)
    if trait is None:
        raise NotFound(cmd.name)
    return trait


async def list_computed_traits(cmd: commands.ListComputedTraits, deps: Dependencies) -> TraitPage:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound = f"computed-traits:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound)
    after = None
    if position is not None:
        after = position.get("a")
        if not isinstance(after, str):
            raise InvalidArgument("page_token", "is not a token returned by this method")
    async with deps.uow(readonly=True) as uow:
        found = await uow.computed.list(workspace, after=after, limit=size + 1)
    page, token = paginate(
        found, size, lambda t: {"a": t.trait_id}, tokens=deps.page_tokens, bound_to=bound
    )
    return TraitPage(list(page), token)


async def delete_computed_trait(cmd: commands.DeleteComputedTrait, deps: Dependencies) -> None:
    ref = names.parse_computed_trait(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow() as uow:
        # No ingest that read the trait writes its buckets after they are deleted.
        await uow.computed.lock_definitions(ref.workspace)
        trait = await uow.computed.get(ref.workspace, ref.trait_id)
        holders = await uow.computed.customers_with(ref.workspace, ref.trait_id)
        if trait is None or not await uow.computed.delete(ref.workspace, ref.trait_id):
            raise NotFound(cmd.name)
        again = await evaluate_again_reading(uow, ref.workspace, [trait.key], deps.clock())
        # Killed after the commit, a retry would find no trait and invalidate nothing:
        # the fence keeps the holders' cached profiles from being served meanwhile.
        fence = await fence_before_commit(deps, ref.workspace, holders)
        await uow.commit()
    if again:
        deps.segment_wakeup.set()
    await deps.profile_cache.invalidate(
        (customer_scope(ref.workspace, c) for c in holders), fence=fence
    )


async def get_backfill_job(cmd: commands.GetBackfillJob, deps: Dependencies) -> BackfillJob:
    ref = names.parse_backfill_job(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        job = await uow.backfills.get_job(ref.workspace, ref.trait_id, ref.job_id)
    if job is None:
        raise NotFound(cmd.name)
    return job


async def list_backfill_jobs(
    cmd: commands.ListBackfillJobs, deps: Dependencies
) -> tuple[list[BackfillJob], str]:
    ref = names.parse_computed_trait(cmd.parent, field="parent")
    require_workspace(ref.workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound = f"backfill-jobs:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound)
    async with deps.uow(readonly=True) as uow:
        if await uow.computed.get(ref.workspace, ref.trait_id) is None:
            raise NotFound(cmd.parent)
        jobs = await uow.backfills.jobs_of(ref.workspace, ref.trait_id)
    if position is not None:
        after = position.get("a")
        if not isinstance(after, str):
            raise InvalidArgument("page_token", "is not a token returned by this method")
        jobs = [j for j in jobs if j.job_id > after]
    page, token = paginate(
        jobs[: size + 1], size, lambda j: {"a": j.job_id}, tokens=deps.page_tokens,
        bound_to=bound,
    )  # fmt: skip
    return list(page), token


# -- reads ------------------------------------------------------------------------


async def values_of(
    uow: ProfileUnitOfWork, workspace: str, customer_ids: Collection[str], now: datetime,
    *, needed_keys: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """customer -> {key: value} of the computed traits (``needed_keys`` if given) at ``now``."""
    traits = await uow.computed.all_of(workspace)
    traits = [t for t in traits if needed_keys is None or t.key in needed_keys]
    if not traits:
        return {c: {} for c in customer_ids}
    since = min(first_day(t, now) for t in traits)
    only = None if needed_keys is None else {t.trait_id for t in traits}
    buckets = await uow.computed.buckets_of(
        workspace, customer_ids, since_day=since, trait_ids=only
    )
    return {c: values_for(traits, buckets.get(c, {}), now) for c in customer_ids}


async def values_between(
    uow: ProfileUnitOfWork, workspace: str, after: str | None, last: str, now: datetime
) -> dict[str, dict[str, Any]]:
    traits = await uow.computed.all_of(workspace)
    if not traits:
        return {}
    since = min(first_day(t, now) for t in traits)
    buckets = await uow.computed.buckets_between(workspace, after, last, since_day=since)
    return {c: values_for(traits, b, now) for c, b in buckets.items()}


# -- the backfill runner --------------------------------------------------------------


async def run_backfill(
    deps: Dependencies, job: BackfillJob, *, max_chunks: int | None = None
) -> None:
    """Count the job's events chunk by chunk from its stored position (each chunk one
    transaction with its progress), until none is left (or after ``max_chunks``)."""
    cursor, processed = job.cursor_seq, job.processed
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        chunks += 1
        try:
            done, changed, fence = await _backfill_chunk(deps, job, cursor, processed)
        except CacheInvalidationError:
            # The chunk was rolled back: the job is runnable again at the runner's next
            # round (from its stored position), not when the hold lapses.
            async with deps.uow() as uow:
                await uow.backfills.claim_job(job, now=deps.clock(), until=deps.clock(), renew=True)
                await uow.commit()
            raise
        if done is None:
            return  # deleted meanwhile
        cursor, processed, finished = done
        await invalidate_after_commit(deps, job.workspace, changed, fence=fence)
        if finished:
            deps.segment_wakeup.set()  # the rules reading the trait are due (the last chunk)
            _log.info(
                "computed trait backfilled",
                extra={"workspace": job.workspace, "count": processed},
            )
            return
        await asyncio.sleep(0)


async def _backfill_chunk(
    deps: Dependencies, job: BackfillJob, cursor: int, processed: int
) -> tuple[tuple[int, int, bool] | None, set[str], str | None]:
    """One chunk in one transaction: ((cursor, processed, finished) or None when the job
    or its trait is gone, the customers whose buckets changed, their fence)."""
    async with deps.uow() as uow:
        if not await uow.backfills.claim_job(
            job, now=deps.clock(), until=deps.clock() + _LEASE, renew=True
        ):
            return None, set(), None
        trait = await uow.computed.get(job.workspace, job.trait_id)
        if trait is None:
            return None, set(), None
        now = deps.clock()
        chunk = functools.partial(
            uow.backfills.events_after,
            trait,
            window_start(trait, now),
            after_seq=cursor,
            upto_seq=job.upto_seq,
            limit=deps.backfill_chunk_size,
        )
        rows = await read_with_customers_locked(
            uow, job.workspace, chunk, lambda rows: (row.customer_id for row in rows)
        )
        items = [
            (
                row.customer_id,
                event_from_document(
                    row.document, type=EventType(row.type), message_id=row.message_id
                ),
                as_utc(row.timestamp),
            )
            for row in rows
        ]
        added: dict[BucketKey, Bucket] = {}
        changed = observe([trait], items, added)
        await uow.computed.add_to_buckets(job.workspace, added)
        if rows:
            cursor = int(rows[-1].seq)
            processed += len(rows)
        finished = len(rows) < deps.backfill_chunk_size
        await uow.backfills.progress(
            job,
            cursor_seq=cursor,
            processed=processed,
            state="succeeded" if finished else "running",
            now=now,
        )
        if finished:
            # Values changed for many customers at once, which no event re-evaluates.
            await evaluate_again_reading(uow, job.workspace, [trait.key], now)
        # The stored position moves with this commit: should this process die before
        # the invalidation, the fence keeps every replica from serving the profiles
        # from before the chunk (one fence for the chunk's customers).
        fence = await fence_before_commit(deps, job.workspace, changed)
        await uow.commit()
    return (cursor, processed, finished), changed, fence


async def run_due_backfills(deps: Dependencies, *, limit: int = 10) -> int:
    async with deps.uow(readonly=True) as uow:
        jobs = await uow.backfills.runnable_jobs(deps.clock(), limit)
    ran = 0
    for job in jobs:
        async with deps.uow() as uow:
            claimed = await uow.backfills.claim_job(
                job, now=deps.clock(), until=deps.clock() + _LEASE, renew=False
            )
            await uow.commit()
        if claimed:
            await run_backfill(deps, job)
            ran += 1
    return ran


async def prune_expired_buckets(deps: Dependencies) -> int:
    """Delete the buckets of days that left their trait's window (values never read
    them: this only keeps the table small); how many."""
    pruned = 0
    now = deps.clock()
    for workspace in deps.workspaces:
        async with deps.uow(readonly=True) as uow:
            traits = await uow.computed.all_of(workspace)
        for trait in traits:
            async with deps.uow() as uow:
                pruned += await uow.computed.prune(workspace, trait.trait_id, first_day(trait, now))
                await uow.commit()
    return pruned


def backfill_runner(
    deps: Dependencies, *, prune_every: timedelta = timedelta(minutes=10)
) -> Callable[[], Awaitable[None]]:
    """A background task for ServiceParts: runs pending backfill jobs (and resumes
    those a stopped process left running once their hold expires), and prunes expired
    buckets every ``prune_every``."""

    async def run_forever() -> None:
        pruned_at: datetime | None = None
        while True:
            deps.backfill_wakeup.clear()
            try:
                await run_due_backfills(deps)
                if pruned_at is None or deps.clock() - pruned_at >= prune_every:
                    pruned_at = deps.clock()
                    if count := await prune_expired_buckets(deps):
                        _log.info("computed trait buckets pruned", extra={"count": count})
            except Exception:
                _log.exception("backfilling computed traits failed")
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes
            # as the wake-up is set, and the loop would outlive the server's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deps.segment_poll_interval.total_seconds()):
                    await deps.backfill_wakeup.wait()

    return run_forever
