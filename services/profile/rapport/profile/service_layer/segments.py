"""Segments and the life stage model: CRUD, members, preview, and the background
evaluator that applies a segment to every customer (after creation, then on schedule
for rules that depend on time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from rapport.errors import AlreadyExists, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.profile.adapters.profile_cache import customer_scope
from rapport.profile.domain import names
from rapport.profile.domain.model import SignalKind
from rapport.profile.domain.segments import (
    Segment,
    check_display_name,
    check_resource_id,
    compile_rule,
)
from rapport.profile.domain.signals import segment_payload
from rapport.resourcenames import require_workspace
from rapport.versionedcache import CacheInvalidationError

from . import commands, life_stages
from .audiences import evaluate_chunk, preview_matches
from .cache_invalidation import fence_before_commit, invalidate_after_commit
from .computed_traits import values_between
from .dependencies import Dependencies
from .rule_books import RULES

_log = logging.getLogger(__name__)

DEFAULT_SAMPLE = 10
MAX_SAMPLE = 100
# A replica evaluating a segment holds it this long (renewed at each chunk); if it
# dies, another picks the segment up afterwards.
_LEASE = life_stages.LEASE


@dataclass(frozen=True)
class SegmentPage:
    segments: list[Segment]
    next_page_token: str


@dataclass(frozen=True)
class SegmentMemberPage:
    workspace: str
    members: list[tuple[str, datetime]]
    next_page_token: str


@dataclass(frozen=True)
class Preview:
    workspace: str
    member_count: int
    evaluated_count: int
    sample: list[str]


async def create_segment(cmd: commands.CreateSegment, deps: Dependencies) -> Segment:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    segment_id = cmd.segment_id or "s-" + uuid.uuid4().hex[:16]
    if cmd.segment_id:
        check_resource_id(cmd.segment_id, "segment_id")
    check_display_name(cmd.display_name, "segment.display_name")
    rule = compile_rule(RULES, cmd.rule, "segment.rule")
    now = deps.clock()
    segment = Segment(
        workspace=workspace,
        segment_id=segment_id,
        display_name=cmd.display_name,
        rule=cmd.rule,
        time_dependent=rule.time_dependent,
        create_time=now,
        next_evaluation_time=now,  # every customer, by the evaluator, right away
    )
    async with deps.uow() as uow:
        if not await uow.segments.create(segment):
            raise AlreadyExists(names.segment_name(workspace, segment_id))
        await uow.commit()
    deps.segment_wakeup.set()
    _log.info("segment created", extra={"workspace": workspace, "segment": segment_id})
    return segment


async def get_segment(cmd: commands.GetSegment, deps: Dependencies) -> Segment:
    ref = names.parse_segment(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        segment = await uow.segments.get(ref.workspace, ref.segment_id)
    if segment is None:
        raise NotFound(cmd.name)
    return segment


async def list_segments(cmd: commands.ListSegments, deps: Dependencies) -> SegmentPage:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    position = deps.page_tokens.decode(cmd.page_token, bound_to=f"segments:{cmd.parent}")
    after = _after(position)
    async with deps.uow(readonly=True) as uow:
        found = await uow.segments.list(workspace, after=after, limit=size + 1)
    page, token = paginate(
        found,
        size,
        lambda s: {"a": s.segment_id},
        tokens=deps.page_tokens,
        bound_to=f"segments:{cmd.parent}",
    )
    return SegmentPage(list(page), token)


_UPDATABLE = ("display_name", "rule")


async def update_segment(cmd: commands.UpdateSegment, deps: Dependencies) -> Segment:
    """Update the display name and/or rule; a changed rule is evaluated for every
    customer by the background evaluator right away (as after creation): an evaluation
    of the old rule under way stops at its next chunk (its claim names the old rule)."""
    ref = names.parse_segment(cmd.name, field="segment.name")
    require_workspace(ref.workspace, deps.workspaces)
    paths = list(cmd.update_mask) or list(_UPDATABLE)
    for i, path in enumerate(paths):
        if path not in _UPDATABLE:
            raise InvalidArgument(
                f"update_mask.paths[{i}]", f"must be one of {', '.join(_UPDATABLE)}"
            )
    changes: dict[str, object] = {}
    if "display_name" in paths:
        check_display_name(cmd.display_name, "segment.display_name")
        changes["display_name"] = cmd.display_name
    rule = None
    if "rule" in paths:
        rule = compile_rule(RULES, cmd.rule, "segment.rule")
    async with deps.uow() as uow:
        segment = await uow.segments.get(ref.workspace, ref.segment_id)
        if segment is None:
            raise NotFound(cmd.name)
        if rule is not None and cmd.rule != segment.rule:
            changes.update(
                rule=cmd.rule,
                time_dependent=rule.time_dependent,
                next_evaluation_time=deps.clock(),  # every customer, right away
            )
        updated = replace(segment, **changes)  # type: ignore[arg-type]
        if updated != segment and not await uow.segments.update(updated):
            raise NotFound(cmd.name)
        await uow.commit()
    if updated.rule != segment.rule:
        deps.segment_wakeup.set()
        _log.info(
            "segment rule updated",
            extra={"workspace": ref.workspace, "segment": ref.segment_id},
        )
    return updated


async def delete_segment(cmd: commands.DeleteSegment, deps: Dependencies) -> None:
    """Delete the segment; its members leave it, with a SEGMENT_EXITED signal each in
    the deletion's transaction."""
    ref = names.parse_segment(cmd.name, field="name")
    require_workspace(ref.workspace, deps.workspaces)
    async with deps.uow() as uow:
        members = await uow.segments.members_page(
            ref.workspace, ref.segment_id, after=None, limit=1_000_000
        )
        customers = [c for c, _ in members]
        if customers:
            # Customer locks first, then the signal log (the order ingestion takes them).
            await uow.profiles.lock_customers(ref.workspace, customers)
        if not await uow.segments.delete(ref.workspace, ref.segment_id):
            raise NotFound(cmd.name)
        if customers:
            payload = segment_payload(ref.segment_id)
            await uow.profiles.lock_signal_log()
            await uow.profiles.append_signals(
                ref.workspace,
                [(SignalKind.SEGMENT_EXITED, c, dict(payload)) for c in customers],
                deps.clock(),
            )
        # Killed after the commit, a retry would find no segment and invalidate
        # nothing: the fence keeps the members' cached profiles from being served.
        fence = await fence_before_commit(deps, ref.workspace, customers)
        await uow.commit()
    if customers:
        deps.notifier.notify()
        await deps.profile_cache.invalidate(
            (customer_scope(ref.workspace, c) for c in customers), fence=fence
        )


async def list_segment_members(
    cmd: commands.ListSegmentMembers, deps: Dependencies
) -> SegmentMemberPage:
    ref = names.parse_segment(cmd.segment, field="segment")
    require_workspace(ref.workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound = f"segment-members:{cmd.segment}"
    after = _after(deps.page_tokens.decode(cmd.page_token, bound_to=bound))
    async with deps.uow(readonly=True) as uow:
        if await uow.segments.get(ref.workspace, ref.segment_id) is None:
            raise NotFound(cmd.segment)
        found = await uow.segments.members_page(
            ref.workspace, ref.segment_id, after=after, limit=size + 1
        )
    page, token = paginate(
        found, size, lambda m: {"a": m[0]}, tokens=deps.page_tokens, bound_to=bound
    )
    return SegmentMemberPage(ref.workspace, list(page), token)


async def preview_segment(cmd: commands.PreviewSegment, deps: Dependencies) -> Preview:
    """Evaluate the rule over every profile of the workspace (chunk by chunk, read
    only); nothing is saved."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    if cmd.sample_size < 0:
        raise InvalidArgument("sample_size", "must not be negative")
    sample_size = min(cmd.sample_size or DEFAULT_SAMPLE, MAX_SAMPLE)
    rule = compile_rule(RULES, cmd.rule, "rule")
    now = deps.clock()
    matched = 0
    evaluated = 0
    sample: list[str] = []
    after: str | None = None
    while True:
        async with deps.uow(readonly=True) as uow:
            customers = await uow.segments.customers_after(
                workspace, after, deps.segment_chunk_size
            )
            if not customers:
                break
            last = customers[-1]
            values = (
                await uow.segments.trait_values_between(workspace, after, last, rule.trait_keys)
                if "traits" in rule.variables
                else {}
            )
            stages = (
                await uow.segments.states_between(workspace, after, last)
                if "life_stage" in rule.variables
                else {}
            )
            computed = (
                await values_between(uow, workspace, after, last, now)
                if "computed_traits" in rule.variables
                else {}
            )
        found = preview_matches(rule, now, customers, values, stages, computed)
        matched += len(found)
        evaluated += len(customers)
        sample.extend(found[: max(0, sample_size - len(sample))])
        after = last
        await asyncio.sleep(0)
    return Preview(workspace, matched, evaluated, sample)


def _after(position: dict | None) -> str | None:  # type: ignore[type-arg]
    if position is None:
        return None
    after = position.get("a")
    if not isinstance(after, str):
        raise InvalidArgument("page_token", "is not a token returned by this method")
    return after


# -- the evaluator ------------------------------------------------------------------


async def evaluate_segment(deps: Dependencies, segment: Segment) -> int:
    """Apply the segment's rule to every customer of its workspace, chunk by chunk
    (each chunk one transaction); the number of signals. Then record the evaluation
    and, for a rule depending on time, the next one."""
    rule = compile_rule(RULES, segment.rule, "rule")
    now = deps.clock()
    after: str | None = None
    signals = 0
    while True:
        try:
            async with deps.uow() as uow:
                # Renew the hold first: a segment deleted (or replaced) meanwhile stops.
                if not await uow.segments.claim(
                    segment.workspace,
                    segment.segment_id,
                    rule=segment.rule,
                    due_by=None,
                    until=deps.clock() + _LEASE,
                ):
                    return signals
                result = await evaluate_chunk(
                    uow, segment, rule, now, after=after, size=deps.segment_chunk_size
                )
                # One fence for the chunk's changed members: should this process die
                # after the commit, no replica serves their cached profiles from before.
                fence = await fence_before_commit(deps, segment.workspace, result.changed)
                await uow.commit()
        except CacheInvalidationError:
            await _release_segment(deps, segment)  # the chunk was rolled back
            raise
        await invalidate_after_commit(deps, segment.workspace, result.changed, fence=fence)
        if result.signals:
            deps.notifier.notify()
        signals += result.signals
        if result.last_customer is None:
            break
        after = result.last_customer
        await asyncio.sleep(0)  # let requests in between chunks
    next_time = now + deps.segment_interval if rule.time_dependent else None
    async with deps.uow() as uow:
        await uow.segments.mark_evaluated(
            segment.workspace,
            segment.segment_id,
            rule=segment.rule,
            evaluated=now,
            next_time=next_time,
        )
        await uow.commit()
    return signals


async def _release_segment(deps: Dependencies, segment: Segment) -> None:
    """Due again at once (the evaluator's next round, from the first customer), not
    when the hold lapses: the chunk that could not be fenced was not committed."""
    async with deps.uow() as uow:
        await uow.segments.claim(
            segment.workspace,
            segment.segment_id,
            rule=segment.rule,
            due_by=None,
            until=deps.clock(),
        )
        await uow.commit()


async def evaluate_due_segments(deps: Dependencies, *, limit: int = 10) -> int:
    """Evaluate the segments whose time has come (claimed first, so one replica does
    each); how many were evaluated."""
    async with deps.uow(readonly=True) as uow:
        due = await uow.segments.due(deps.clock(), limit)
    done = 0
    for segment in due:
        async with deps.uow() as uow:
            claimed = await uow.segments.claim(
                segment.workspace,
                segment.segment_id,
                rule=segment.rule,
                due_by=deps.clock(),
                until=deps.clock() + _LEASE,
            )
            await uow.commit()
        if not claimed:
            continue  # another replica has it
        signals = await evaluate_segment(deps, segment)
        done += 1
        _log.info(
            "segment evaluated",
            extra={
                "workspace": segment.workspace,
                "segment": segment.segment_id,
                "count": signals,
            },
        )
    return done


def segment_evaluator(deps: Dependencies) -> Callable[[], Awaitable[None]]:
    """A background task for ServiceParts: evaluates due segments; sleeps until the
    next one is due (at most deps.segment_poll_interval), or a new segment is made."""

    async def evaluate_forever() -> None:
        while True:
            deps.segment_wakeup.clear()
            try:
                # Stages first: segments may read them.
                await life_stages.evaluate_due_models(deps)
                await evaluate_due_segments(deps)
            except Exception:
                # A failed round (database briefly away) is retried at the next one.
                _log.exception("evaluating segments failed")
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes
            # as the wake-up is set, and the loop would outlive the server's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deps.segment_poll_interval.total_seconds()):
                    await deps.segment_wakeup.wait()

    return evaluate_forever
