"""Deduplication jobs: CreateDeduplicationJob, GetDeduplicationJob, ListDeduplicationJobs.

CreateDeduplicationJob stores a PENDING job and queues it on ``deps.pending_jobs``;
the runner (deduplication_runner.py) runs it in this process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.identity.domain import names
from rapport.identity.domain.deduplication import DeduplicationJob, JobState, Thresholds
from rapport.identity.domain.rules import InvalidThresholds
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies
from .unit_of_work import IdentityUnitOfWork, with_retries

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPage:
    jobs: list[DeduplicationJob]
    next_page_token: str


# --- CreateDeduplicationJob / GetDeduplicationJob / ListDeduplicationJobs --------------------


async def create_deduplication_job(
    cmd: commands.CreateDeduplicationJob, deps: Dependencies
) -> DeduplicationJob:
    """Store a PENDING job and queue it for the runner (one active job per workspace)."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    field = "deduplication_job.thresholds"
    try:
        thresholds = Thresholds.from_requested(
            cmd.merge_threshold,
            cmd.review_threshold,
            defaults=await deps.rules.thresholds(workspace),
        )
    except InvalidThresholds as exc:
        raise InvalidArgument(f"{field}.{exc.field}", exc.description) from exc

    async def work(uow: IdentityUnitOfWork) -> DeduplicationJob:
        await uow.deduplication.lock_jobs(workspace)
        active = await uow.deduplication.active_job(workspace)
        if active is not None:
            raise FailedPrecondition(
                "JOB_ALREADY_RUNNING",
                f"{active.name} is still {active.state.lower()}",
                {"deduplication_job": active.name},
            )
        job = DeduplicationJob(
            workspace=workspace,
            id=deps.new_id(),
            state=JobState.PENDING,
            progress=0.0,
            thresholds=thresholds,
            create_time=deps.clock(),
        )
        await uow.deduplication.add_job(job)
        return job

    job = await with_retries(deps.uow_factory, work)
    _log.info("deduplication job created", extra={"workspace": workspace, "resource": job.name})
    deps.pending_jobs.put_nowait(job)
    return job


async def get_deduplication_job(
    cmd: commands.GetDeduplicationJob, deps: Dependencies
) -> DeduplicationJob:
    name = names.parse_deduplication_job(cmd.name, field="name")
    require_workspace(name.workspace, deps.workspaces)
    async with deps.uow_factory(readonly=True) as uow:
        job = await uow.deduplication.get_job(name.workspace, name.job)
    if job is None:
        raise NotFound(cmd.name)
    return job


async def list_deduplication_jobs(
    cmd: commands.ListDeduplicationJobs, deps: Dependencies
) -> JobPage:
    """Newest first."""
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"ListDeduplicationJobs:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    before = None
    if position is not None:
        try:
            before = (
                datetime.fromisoformat(str(position["t"])).astimezone(UTC),
                str(position["j"]),
            )
        except (KeyError, ValueError) as exc:
            raise InvalidArgument("page_token", "is not a token returned by this method") from exc
    async with deps.uow_factory(readonly=True) as uow:
        jobs = await uow.deduplication.list_jobs(workspace, before, size + 1)
    page, next_token = paginate(
        jobs,
        size,
        lambda job: {"t": job.create_time.isoformat(), "j": job.id},
        tokens=deps.page_tokens,
        bound_to=bound_to,
    )
    return JobPage(page, next_token)
