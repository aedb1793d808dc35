"""The deduplication job runner: a background component that runs queued jobs in this process.

A job trains the workspace's match model, scores every candidate pair in a worker
thread (``asyncio.to_thread``), merges the clusters above the merge threshold
(resolve.merge_customer_groups, under the workspace's identity rules) and queues
the pairs between the thresholds, or refused by the rules, as match reviews.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from rapport.identity.domain.deduplication import (
    DeduplicationJob,
    JobState,
    MatchReview,
    ReviewState,
    clusters,
    ordered_pair,
)
from rapport.identity.matching import MatchModel, PersonRecord

from . import commands, resolve
from .dependencies import Dependencies
from .match_models import attribute_comparisons, person_records
from .unit_of_work import IdentityUnitOfWork, with_retries

_log = logging.getLogger(__name__)

DEDUPLICATION_SOURCE = "deduplication"
DEDUPLICATION_REASON = "MATCH"
INTERRUPTED = "interrupted"
# Clusters merged per unit of work by a deduplication job.
MERGE_BATCH = 500
# Share of the job's progress reached after each phase.
_TRAINED, _DEDUPLICATED = 0.1, 0.8


class _JobStopped(Exception):
    """Raised in the worker thread (from the progress callback) when the job is cancelled."""


class _Progress:
    """The latest progress, written by the worker thread and read by the event loop."""

    def __init__(self, value: float) -> None:
        self.value = value


class DeduplicationJobRunner:
    """Runs the jobs queued on ``deps.pending_jobs``, each in its own task.

    Bootstrap awaits ``fail_interrupted_jobs`` before serving, runs ``run`` as a
    background task (cancelled first when the server stops: running jobs are
    cancelled and record themselves FAILED "interrupted") and ``close`` on close.
    """

    def __init__(self, deps: Dependencies, *, progress_interval: float = 0.5) -> None:
        self._deps = deps
        self._progress_interval = progress_interval
        # Running jobs, referenced so they are neither collected nor forgotten at stop.
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._stopping = threading.Event()

    async def fail_interrupted_jobs(self) -> None:
        """Jobs left PENDING or RUNNING by a previous process never finish: say so."""

        async def fail(uow: IdentityUnitOfWork) -> int:
            return await uow.deduplication.fail_active_jobs(INTERRUPTED, self._deps.clock())

        count = await with_retries(self._deps.uow_factory, fail)
        if count:
            _log.warning("deduplication jobs interrupted", extra={"count": count})

    async def run(self) -> None:
        """Start every queued job, until cancelled; then cancel the running ones."""
        try:
            while True:
                job = await self._deps.pending_jobs.get()
                self._jobs[job.id] = asyncio.create_task(
                    self._run_job(job), name=f"deduplication-{job.id}"
                )
        finally:
            await self._stop_jobs()

    async def close(self) -> None:
        """Stop running jobs; jobs queued too late to start are FAILED "interrupted"."""
        await self._stop_jobs()
        while not self._deps.pending_jobs.empty():
            job = self._deps.pending_jobs.get_nowait()
            await self._fail_job(job, INTERRUPTED)

    async def _stop_jobs(self) -> None:
        self._stopping.set()
        tasks = list(self._jobs.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_job(self, job: DeduplicationJob) -> None:
        extra = {"workspace": job.workspace, "resource": job.name}
        try:
            if not await self._update_job(
                job, from_states=[JobState.PENDING], state=JobState.RUNNING
            ):
                return  # failed meanwhile (a restart of another replica)
            _log.info("deduplication job running", extra=extra)
            counts = await self._deduplicate(job)
            await self._update_job(
                job,
                state=JobState.SUCCEEDED,
                progress=1.0,
                end_time=self._deps.clock(),
                **counts,
            )
            _log.info(
                "deduplication job succeeded: %d records, %d pairs, %d merged, %d queued",
                counts["record_count"],
                counts["candidate_pair_count"],
                counts["merged_count"],
                counts["review_count"],
                extra=extra,
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._fail_job(job, INTERRUPTED))
            raise
        except Exception as exc:
            # The exception text may quote stored values: log and keep only its type.
            _log.error(
                "deduplication job failed", extra={**extra, "error_reason": type(exc).__name__}
            )
            await self._fail_job(job, f"internal error ({type(exc).__name__})")
        finally:
            self._jobs.pop(job.id, None)

    async def _fail_job(self, job: DeduplicationJob, error: str) -> None:
        try:
            await self._update_job(
                job,
                from_states=[JobState.PENDING, JobState.RUNNING],
                state=JobState.FAILED,
                error=error,
                end_time=self._deps.clock(),
            )
        except Exception as exc:  # the start-up sweep will mark it
            _log.error(
                "could not record a failed deduplication job",
                extra={"resource": job.name, "error_reason": type(exc).__name__},
            )

    async def _update_job(
        self,
        job: DeduplicationJob,
        *,
        from_states: Sequence[JobState] | None = None,
        **values: Any,
    ) -> bool:
        async def update(uow: IdentityUnitOfWork) -> bool:
            return await uow.deduplication.update_job(
                job.workspace, job.id, from_states=from_states, **values
            )

        return await with_retries(self._deps.uow_factory, update)

    async def _deduplicate(self, job: DeduplicationJob) -> dict[str, int]:
        deps, workspace = self._deps, job.workspace
        async with deps.uow_factory(readonly=True) as uow:
            rows = await uow.matching.records_with_attributes(workspace)
        records = await asyncio.to_thread(person_records, rows)
        counts = {
            "record_count": len(records),
            "candidate_pair_count": 0,
            "merged_count": 0,
            "review_count": 0,
        }
        if len(records) < 2:
            return counts
        await self._update_job(job, record_count=len(records))

        model = await deps.match_models.train(workspace, records)
        progress = _Progress(_TRAINED)
        reporter = asyncio.create_task(self._report_progress(job, progress))
        try:
            candidate_pairs, scored = await asyncio.to_thread(
                self._score_all, model, records, job.thresholds.review, progress
            )
        finally:
            reporter.cancel()
        counts["candidate_pair_count"] = candidate_pairs
        await self._update_job(job, progress=_DEDUPLICATED, candidate_pair_count=candidate_pairs)

        to_merge = [
            (records[i].record_id, records[j].record_id)
            for i, j, probability in scored
            if probability >= job.thresholds.merge
        ]
        to_review = {
            ordered_pair(records[i].record_id, records[j].record_id): (probability, i, j)
            for i, j, probability in scored
            if probability < job.thresholds.merge
        }
        merge_probability = {
            ordered_pair(records[i].record_id, records[j].record_id): (probability, i, j)
            for i, j, probability in scored
            if probability >= job.thresholds.merge
        }
        groups = list(clusters(to_merge))
        outcomes: list[resolve.MergeOutcome] = []
        for start in range(0, len(groups), MERGE_BATCH):
            outcomes += await resolve.merge_customer_groups(
                commands.MergeCustomerGroups(
                    workspace,
                    groups[start : start + MERGE_BATCH],
                    source=DEDUPLICATION_SOURCE,
                    reason=DEDUPLICATION_REASON,
                ),
                deps,
            )
        counts["merged_count"] += sum(len(outcome.merged) for outcome in outcomes)
        refused = {customer_id for outcome in outcomes for customer_id, _ in outcome.refused}
        if refused:
            # A rule (limit, separation) refused these merges: a human decides instead.
            to_review.update(
                (pair, scored_pair)
                for pair, scored_pair in merge_probability.items()
                if pair[0] in refused or pair[1] in refused
            )
        counts["review_count"] = await self._queue_reviews(job, records, model, to_review)
        return counts

    def _score_all(
        self,
        model: MatchModel,
        records: Sequence[PersonRecord],
        min_probability: float,
        progress: _Progress,
    ) -> tuple[int, list[tuple[int, int, float]]]:
        """In the worker thread: candidate pair count and the pairs at or above the minimum."""

        def report(fraction: float) -> None:
            if self._stopping.is_set():
                raise _JobStopped
            progress.value = _TRAINED + (_DEDUPLICATED - _TRAINED) * min(max(fraction, 0.0), 1.0)

        # Training blocked these very records: its count saves blocking them twice.
        trained_on = model.training.get("candidate_pairs") if model.training else None
        candidate_pairs = (
            int(trained_on)
            if isinstance(trained_on, int) and model.training.get("records") == len(records)
            else len(model.candidate_pairs(records))
        )
        scored = model.deduplicate(records, min_probability=min_probability, progress=report)
        return candidate_pairs, scored

    async def _report_progress(self, job: DeduplicationJob, progress: _Progress) -> None:
        """Persist the worker thread's progress at most every ``progress_interval`` seconds."""
        written = -1.0
        while True:
            await asyncio.sleep(self._progress_interval)
            value = progress.value
            if value != written:
                await self._update_job(job, progress=value)
                written = value

    async def _queue_reviews(
        self,
        job: DeduplicationJob,
        records: Sequence[PersonRecord],
        model: MatchModel,
        candidates: Mapping[tuple[str, str], tuple[float, int, int]],
    ) -> int:
        """Queue the pairs whose customers are still apart, not kept apart, not yet queued;
        how many were queued."""
        if not candidates:
            return 0
        deps, workspace = self._deps, job.workspace
        async with deps.uow_factory(readonly=True) as uow:
            survivors = await uow.matching.survivors(
                workspace, {customer for pair in candidates for customer in pair}
            )
            live_pairs: dict[tuple[str, str], tuple[float, int, int]] = {}
            for pair, scored_pair in candidates.items():
                first, second = survivors.get(pair[0]), survivors.get(pair[1])
                if first is None or second is None or first == second:
                    continue  # erased, or merged already
                live = ordered_pair(first, second)
                if live not in live_pairs or live_pairs[live][0] < scored_pair[0]:
                    live_pairs[live] = scored_pair
            pairs = sorted(live_pairs)
            excluded = await uow.matching.separated_pairs(workspace, pairs)
            excluded |= await uow.deduplication.reviewed_pairs(workspace, pairs)
        kept = [(pair, live_pairs[pair]) for pair in pairs if pair not in excluded]
        if not kept:
            return 0
        explanations = await asyncio.to_thread(
            lambda: [model.explain(records[i], records[j]) for _, (_, i, j) in kept]
        )
        now = deps.clock()
        reviews = [
            MatchReview(
                workspace=workspace,
                id=deps.new_id(),
                customer_a=pair[0],
                customer_b=pair[1],
                probability=float(probability),
                details={
                    "match_weight": float(explanation.match_weight),
                    "comparisons": [list(c) for c in attribute_comparisons(explanation)],
                },
                state=ReviewState.PENDING,
                create_time=now,
                job_id=job.id,
            )
            for (pair, (probability, _, _)), explanation in zip(kept, explanations, strict=True)
        ]

        async def add(uow: IdentityUnitOfWork) -> int:
            # Looked at again under the lock erasures take: a customer erased since the
            # pairs were read is not named by a new review (an erasure deletes its
            # reviews), nor a pair merged meanwhile queued.
            await uow.matching.lock_erasures(workspace)
            live = await uow.matching.survivors(
                workspace, {customer for pair, _ in kept for customer in pair}
            )
            still = [
                review
                for review in reviews
                if live.get(review.customer_a) == review.customer_a
                and live.get(review.customer_b) == review.customer_b
            ]
            await uow.deduplication.add_reviews(still)
            return len(still)

        return await with_retries(deps.uow_factory, add)
