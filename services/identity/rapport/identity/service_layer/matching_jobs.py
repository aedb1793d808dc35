"""Probabilistic matching use cases: FindMatches, deduplication jobs, match reviews.

The matching engine is pure and CPU-bound: training, scoring and deduplicating run
in a worker thread (``asyncio.to_thread``) so the server keeps answering meanwhile.
Merges go through the resolve path's ``merge_customers``, which applies the
workspace's rules (limits, separations) exactly as ``Resolve`` does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.identity.adapters.matching_repository import MatchingRepository
from rapport.identity.domain.deduplication import (
    DeduplicationJob,
    InvalidThresholds,
    JobState,
    MatchReview,
    ReviewDecision,
    ReviewState,
    Thresholds,
    clusters,
    ordered_pair,
)
from rapport.identity.matching import ATTRIBUTES, MatchExplanation, MatchModel, PersonRecord
from rapport.pagination import decode_page_token, encode_page_token, page_size
from rapport.resourcenames import parse_name, require_workspace

from . import matching_commands as commands
from .attributes import validate_attributes
from .handlers import CUSTOMER, IdentityContext

_log = logging.getLogger(__name__)

WORKSPACE = "workspaces/{workspace}"
DEDUPLICATION_JOB = "workspaces/{workspace}/deduplicationJobs/{job}"
MATCH_REVIEW = "workspaces/{workspace}/matchReviews/{review}"

DEFAULT_MAX_RESULTS = 10
MAX_MAX_RESULTS = 100

DEDUPLICATION_SOURCE = "deduplication"
DEDUPLICATION_REASON = "MATCH"
REVIEW_SOURCE = "match_review"
REVIEW_REASON = "REVIEW_ACCEPTED"
REJECTED_SEPARATION = "REVIEW_REJECTED"
INTERRUPTED = "interrupted"

# Share of the job's progress reached after each phase.
_TRAINED, _DEDUPLICATED = 0.1, 0.8


class MergeOutcomeLike(Protocol):
    survivor: str | None
    merged: list[str]
    refused: list[tuple[str, str]]


class MergeCustomerGroups(Protocol):
    def __call__(
        self,
        ctx: IdentityContext,
        workspace: str,
        groups: Sequence[Sequence[str]],
        *,
        source: str,
        reason: str,
    ) -> Awaitable[Sequence[MergeOutcomeLike]]: ...


# Clusters merged per unit of work by a deduplication job.
MERGE_BATCH = 500


@dataclass(frozen=True)
class Match:
    customer_id: str
    probability: float
    match_weight: float
    comparisons: list[tuple[str, str, float]]


@dataclass(frozen=True)
class JobPage:
    jobs: list[DeduplicationJob]
    next_page_token: str


@dataclass(frozen=True)
class ReviewPage:
    reviews: list[MatchReview]
    next_page_token: str


class _JobStopped(Exception):
    """Raised in the worker thread (from the progress callback) when the job is cancelled."""


def person_record(record_id: str, attributes: Mapping[str, Any]) -> PersonRecord:
    return PersonRecord(record_id, **{name: str(attributes.get(name) or "") for name in ATTRIBUTES})


def validate_record(attributes: Mapping[str, str], *, field: str) -> dict[str, str]:
    """The non-empty attributes of a bare record, or InvalidArgument naming the field."""
    present = validate_attributes(attributes, field=field)
    if not present:
        raise InvalidArgument(field, "needs at least one non-empty attribute")
    return present


class MatchingService:
    """Matching use cases of one server, and the deduplication jobs it runs."""

    def __init__(
        self,
        ctx: IdentityContext,
        merge_customer_groups: MergeCustomerGroups,
        *,
        progress_interval: float = 0.5,
    ) -> None:
        self._ctx = ctx
        self._merge_groups = merge_customer_groups
        self._progress_interval = progress_interval
        # workspace -> (train time, model): parsing a stored model is not free.
        self._models: dict[str, tuple[datetime, MatchModel]] = {}
        self._training: dict[str, asyncio.Lock] = {}
        # Running jobs, referenced so they are neither collected nor forgotten at stop.
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._stopping = threading.Event()

    # --- start-up and shutdown ------------------------------------------------------

    async def fail_interrupted_jobs(self) -> None:
        """Jobs left PENDING or RUNNING by a previous process never finish: say so."""
        async with self._ctx.uow_factory(readonly=False) as uow:
            count = await MatchingRepository(uow.connection).fail_active_jobs(
                INTERRUPTED, self._ctx.clock()
            )
            await uow.commit()
        if count:
            _log.warning("deduplication jobs interrupted", extra={"count": count})

    async def close(self) -> None:
        """Cancel running jobs (each records itself FAILED "interrupted")."""
        self._stopping.set()
        tasks = list(self._jobs.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- FindMatches ------------------------------------------------------------------

    async def find_matches(self, command: commands.FindMatches) -> list[Match]:
        workspace = self._workspace(command.parent, field="parent")
        max_results = command.max_results or DEFAULT_MAX_RESULTS
        if not 0 < max_results <= MAX_MAX_RESULTS:
            raise InvalidArgument("max_results", f"must be between 0 and {MAX_MAX_RESULTS}")
        if not 0.0 <= command.min_probability <= 1.0:
            raise InvalidArgument("min_probability", "must be between 0 and 1")
        subject_id: str | None = None
        if command.customer:
            ids = parse_name(CUSTOMER, command.customer, field="customer")
            if ids["workspace"] != workspace:
                raise InvalidArgument("customer", "must be a customer of the parent workspace")
        elif command.record is not None:
            record = person_record("", validate_record(command.record, field="record"))
        else:
            raise InvalidArgument("customer", "either customer or record is required")
        min_probability = command.min_probability or (await self._thresholds(workspace)).review

        async with self._ctx.uow_factory(readonly=True) as uow:
            repository = MatchingRepository(uow.connection)
            if command.customer:
                subject_id, attributes = await self._subject(repository, workspace, ids)
                record = person_record(subject_id, attributes)
            rows = await repository.records_with_attributes(workspace)
            stored = await repository.model_train_time(workspace)
        records = await asyncio.to_thread(_person_records, rows)
        model = await self._model(workspace, records, stored)
        if model is None:
            return []
        return await asyncio.to_thread(
            _best_matches, model, record, records, subject_id, min_probability, max_results
        )

    async def _subject(
        self, repository: MatchingRepository, workspace: str, ids: dict[str, str]
    ) -> tuple[str, Mapping[str, Any]]:
        """The live customer named (a merged one stands for its survivor) and its attributes."""
        name = CUSTOMER.format(**ids)
        customer_id = ids["customer"]
        for _ in range(8):
            exists, merged_into, attributes = await repository.customer_attributes(
                workspace, customer_id
            )
            if not exists:
                raise NotFound(name)
            if merged_into is None:
                if not attributes:
                    raise FailedPrecondition(
                        "NO_ATTRIBUTES",
                        f"{name} has no attributes to match on; send them with Resolve",
                    )
                return customer_id, attributes
            customer_id = merged_into
        raise NotFound(name)

    async def _model(
        self, workspace: str, records: Sequence[PersonRecord], stored: datetime | None
    ) -> MatchModel | None:
        """The workspace's model: cached, stored, or trained now (None: too few records)."""
        cached = self._models.get(workspace)
        if stored is not None and cached is not None and cached[0] == stored:
            return cached[1]
        lock = self._training.setdefault(workspace, asyncio.Lock())
        async with lock:
            async with self._ctx.uow_factory(readonly=True) as uow:
                loaded = await MatchingRepository(uow.connection).load_model(workspace)
            if loaded is not None:
                parameters, train_time = loaded
                cached = self._models.get(workspace)
                if cached is not None and cached[0] == train_time:
                    return cached[1]
                try:
                    model = await asyncio.to_thread(MatchModel.from_dict, parameters)
                except (ValueError, KeyError, TypeError):
                    # Stored by another engine version: retrain below instead of failing.
                    _log.warning("stored match model unreadable", extra={"workspace": workspace})
                else:
                    self._models[workspace] = (train_time, model)
                    return model
            if len(records) < 2:
                return None
            return await self._train(workspace, records)

    async def _train(self, workspace: str, records: Sequence[PersonRecord]) -> MatchModel:
        model = await asyncio.to_thread(MatchModel.train, records)
        parameters = await asyncio.to_thread(model.to_dict)
        now = self._ctx.clock()
        async with self._ctx.uow_factory(readonly=False) as uow:
            await MatchingRepository(uow.connection).save_model(
                workspace, parameters, len(records), now
            )
            await uow.commit()
        self._models[workspace] = (now, model)
        _log.info("match model trained", extra={"workspace": workspace, "count": len(records)})
        return model

    # --- deduplication jobs --------------------------------------------------------------

    async def create_job(self, command: commands.CreateDeduplicationJob) -> DeduplicationJob:
        workspace = self._workspace(command.parent, field="parent")
        field = "deduplication_job.thresholds"
        try:
            thresholds = Thresholds.from_requested(
                command.merge_threshold,
                command.review_threshold,
                defaults=await self._thresholds(workspace),
            )
        except InvalidThresholds as exc:
            raise InvalidArgument(f"{field}.{exc.field}", exc.description) from exc
        async with self._ctx.uow_factory(readonly=False) as uow:
            repository = MatchingRepository(uow.connection)
            await repository.lock_jobs(workspace)
            active = await repository.active_job(workspace)
            if active is not None:
                raise FailedPrecondition(
                    "JOB_ALREADY_RUNNING",
                    f"{self.job_name(workspace, active.id)} is still {active.state.lower()}",
                    {"deduplication_job": self.job_name(workspace, active.id)},
                )
            job = DeduplicationJob(
                id=uuid.uuid4().hex,
                state=JobState.PENDING,
                progress=0.0,
                thresholds=thresholds,
                create_time=self._ctx.clock(),
            )
            await repository.add_job(workspace, job)
            await uow.commit()
        _log.info(
            "deduplication job created",
            extra={"workspace": workspace, "resource": self.job_name(workspace, job.id)},
        )
        self._jobs[job.id] = asyncio.create_task(
            self._run_job(workspace, job), name=f"deduplication-{job.id}"
        )
        return job

    async def get_job(self, command: commands.GetDeduplicationJob) -> DeduplicationJob:
        ids = parse_name(DEDUPLICATION_JOB, command.name, field="name")
        require_workspace(ids["workspace"], self._ctx.workspaces)
        async with self._ctx.uow_factory(readonly=True) as uow:
            job = await MatchingRepository(uow.connection).get_job(ids["workspace"], ids["job"])
        if job is None:
            raise NotFound(command.name)
        return job

    async def list_jobs(self, command: commands.ListDeduplicationJobs) -> JobPage:
        workspace = self._workspace(command.parent, field="parent")
        size = page_size(command.page_size)
        bound_to = f"ListDeduplicationJobs:{command.parent}"
        position = decode_page_token(command.page_token, bound_to=bound_to)
        before = None
        if position is not None:
            try:
                before = (
                    datetime.fromisoformat(str(position["t"])).astimezone(UTC),
                    str(position["j"]),
                )
            except (KeyError, ValueError) as exc:
                raise _bad_page_token() from exc
        async with self._ctx.uow_factory(readonly=True) as uow:
            jobs = await MatchingRepository(uow.connection).list_jobs(workspace, before, size + 1)
        next_token = ""
        if len(jobs) > size:
            last = jobs[size - 1]
            next_token = encode_page_token(
                {"t": last.create_time.isoformat(), "j": last.id}, bound_to=bound_to
            )
        return JobPage(jobs[:size], next_token)

    async def _run_job(self, workspace: str, job: DeduplicationJob) -> None:
        extra = {"workspace": workspace, "resource": self.job_name(workspace, job.id)}
        try:
            if not await self._update_job(
                workspace, job.id, from_states=[JobState.PENDING], state=JobState.RUNNING
            ):
                return  # failed meanwhile (a restart of another replica)
            _log.info("deduplication job running", extra=extra)
            counts = await self._deduplicate(workspace, job)
            await self._update_job(
                workspace,
                job.id,
                state=JobState.SUCCEEDED,
                progress=1.0,
                end_time=self._ctx.clock(),
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
            await asyncio.shield(self._fail_job(workspace, job.id, INTERRUPTED))
            raise
        except Exception as exc:
            # The exception text may quote stored values: log and keep only its type.
            _log.error(
                "deduplication job failed", extra={**extra, "error_reason": type(exc).__name__}
            )
            await self._fail_job(workspace, job.id, f"internal error ({type(exc).__name__})")
        finally:
            self._jobs.pop(job.id, None)

    async def _fail_job(self, workspace: str, job_id: str, error: str) -> None:
        try:
            await self._update_job(
                workspace,
                job_id,
                from_states=[JobState.PENDING, JobState.RUNNING],
                state=JobState.FAILED,
                error=error,
                end_time=self._ctx.clock(),
            )
        except Exception as exc:  # the start-up sweep will mark it
            _log.error(
                "could not record a failed deduplication job",
                extra={
                    "resource": self.job_name(workspace, job_id),
                    "error_reason": type(exc).__name__,
                },
            )

    async def _update_job(
        self,
        workspace: str,
        job_id: str,
        *,
        from_states: Sequence[JobState] | None = None,
        **values: Any,
    ) -> bool:
        async with self._ctx.uow_factory(readonly=False) as uow:
            changed = await MatchingRepository(uow.connection).update_job(
                workspace, job_id, from_states=from_states, **values
            )
            await uow.commit()
        return changed

    async def _deduplicate(self, workspace: str, job: DeduplicationJob) -> dict[str, int]:
        async with self._ctx.uow_factory(readonly=True) as uow:
            rows = await MatchingRepository(uow.connection).records_with_attributes(workspace)
        records = await asyncio.to_thread(_person_records, rows)
        counts = {
            "record_count": len(records),
            "candidate_pair_count": 0,
            "merged_count": 0,
            "review_count": 0,
        }
        if len(records) < 2:
            return counts
        await self._update_job(workspace, job.id, record_count=len(records))

        model = await self._train(workspace, records)
        progress = _Progress(_TRAINED)
        reporter = asyncio.create_task(self._report_progress(workspace, job.id, progress))
        try:
            candidate_pairs, scored = await asyncio.to_thread(
                self._score_all, model, records, job.thresholds.review, progress
            )
        finally:
            reporter.cancel()
        counts["candidate_pair_count"] = candidate_pairs
        await self._update_job(
            workspace, job.id, progress=_DEDUPLICATED, candidate_pair_count=candidate_pairs
        )

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
        outcomes: list[MergeOutcomeLike] = []
        for start in range(0, len(groups), MERGE_BATCH):
            outcomes += await self._merge_groups(
                self._ctx,
                workspace,
                groups[start : start + MERGE_BATCH],
                source=DEDUPLICATION_SOURCE,
                reason=DEDUPLICATION_REASON,
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
        counts["review_count"] = await self._queue_reviews(
            workspace, job, records, model, to_review
        )
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

    async def _report_progress(self, workspace: str, job_id: str, progress: _Progress) -> None:
        """Persist the worker thread's progress at most every ``progress_interval`` seconds."""
        written = -1.0
        while True:
            await asyncio.sleep(self._progress_interval)
            value = progress.value
            if value != written:
                await self._update_job(workspace, job_id, progress=value)
                written = value

    async def _queue_reviews(
        self,
        workspace: str,
        job: DeduplicationJob,
        records: Sequence[PersonRecord],
        model: MatchModel,
        candidates: Mapping[tuple[str, str], tuple[float, int, int]],
    ) -> int:
        """Queue the pairs whose customers are still apart, not kept apart, not yet queued."""
        if not candidates:
            return 0
        async with self._ctx.uow_factory(readonly=True) as uow:
            repository = MatchingRepository(uow.connection)
            survivors = await repository.survivors(
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
            excluded = await repository.separated_pairs(workspace, pairs)
            excluded |= await repository.reviewed_pairs(workspace, pairs)
        kept = [(pair, live_pairs[pair]) for pair in pairs if pair not in excluded]
        if not kept:
            return 0
        explanations = await asyncio.to_thread(
            lambda: [model.explain(records[i], records[j]) for _, (_, i, j) in kept]
        )
        now = self._ctx.clock()
        reviews = [
            MatchReview(
                id=uuid.uuid4().hex,
                customer_a=pair[0],
                customer_b=pair[1],
                probability=float(probability),
                details={
                    "match_weight": float(explanation.match_weight),
                    "comparisons": [list(c) for c in _attribute_comparisons(explanation)],
                },
                state=ReviewState.PENDING,
                create_time=now,
                job_id=job.id,
            )
            for (pair, (probability, _, _)), explanation in zip(kept, explanations, strict=True)
        ]
        async with self._ctx.uow_factory(readonly=False) as uow:
            await MatchingRepository(uow.connection).add_reviews(workspace, reviews)
            await uow.commit()
        return len(reviews)

    # --- match reviews ----------------------------------------------------------------------

    async def list_reviews(self, command: commands.ListMatchReviews) -> ReviewPage:
        workspace = self._workspace(command.parent, field="parent")
        state = ReviewState(command.state) if command.state else ReviewState.PENDING
        size = page_size(command.page_size)
        bound_to = f"ListMatchReviews:{command.parent}:{state}"
        position = decode_page_token(command.page_token, bound_to=bound_to)
        after = None
        if position is not None:
            try:
                after = (float(position["p"]), str(position["r"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise _bad_page_token() from exc
        async with self._ctx.uow_factory(readonly=True) as uow:
            reviews = await MatchingRepository(uow.connection).list_reviews(
                workspace, state, after, size + 1
            )
        next_token = ""
        if len(reviews) > size:
            last = reviews[size - 1]
            next_token = encode_page_token({"p": last.probability, "r": last.id}, bound_to=bound_to)
        return ReviewPage(reviews[:size], next_token)

    async def review_match(self, command: commands.ReviewMatch) -> MatchReview:
        ids = parse_name(MATCH_REVIEW, command.name, field="name")
        workspace = ids["workspace"]
        require_workspace(workspace, self._ctx.workspaces)
        if not command.decision:
            raise InvalidArgument("decision", "must be ACCEPT or REJECT")
        decision = ReviewDecision(command.decision)
        async with self._ctx.uow_factory(readonly=True) as uow:
            repository = MatchingRepository(uow.connection)
            review = await repository.get_review(workspace, ids["review"])
            if review is None:
                raise NotFound(command.name)
            _require_pending(review, command.name)
            survivors = await repository.survivors(
                workspace, [review.customer_a, review.customer_b]
            )
        first, second = survivors.get(review.customer_a), survivors.get(review.customer_b)
        if first is None or second is None:
            raise FailedPrecondition(
                "CUSTOMER_ERASED", "one of the customers of this review no longer exists"
            )
        if decision is ReviewDecision.ACCEPT:
            return await self._accept(workspace, review, command.name, first, second)
        return await self._reject(workspace, review, command.name, first, second)

    async def _accept(
        self, workspace: str, review: MatchReview, name: str, first: str, second: str
    ) -> MatchReview:
        if first != second:
            (outcome,) = await self._merge_groups(
                self._ctx, workspace, [[first, second]], source=REVIEW_SOURCE, reason=REVIEW_REASON
            )
            if outcome.refused:
                reason = outcome.refused[0][1]
                raise FailedPrecondition(
                    reason,
                    f"the identity rules refuse to merge these customers ({reason})",
                    {"match_review": name},
                )
        return await self._decide(workspace, review, name, ReviewState.ACCEPTED)

    async def _reject(
        self, workspace: str, review: MatchReview, name: str, first: str, second: str
    ) -> MatchReview:
        if first == second:
            raise FailedPrecondition(
                "ALREADY_MERGED",
                "the customers were merged meanwhile; unmerge them to keep them apart",
                {"match_review": name},
            )
        now = self._ctx.clock()
        async with self._ctx.uow_factory(readonly=False) as uow:
            repository = MatchingRepository(uow.connection)
            if not await repository.decide_review(workspace, review.id, ReviewState.REJECTED, now):
                raise _already_reviewed(name)
            for pair in {ordered_pair(first, second), (review.customer_a, review.customer_b)}:
                await repository.add_separation(workspace, pair, REJECTED_SEPARATION, now)
            decided = await repository.get_review(workspace, review.id)
            await uow.commit()
        _log.info("match review rejected", extra={"resource": name})
        assert decided is not None
        return decided

    async def _decide(
        self, workspace: str, review: MatchReview, name: str, state: ReviewState
    ) -> MatchReview:
        async with self._ctx.uow_factory(readonly=False) as uow:
            repository = MatchingRepository(uow.connection)
            if not await repository.decide_review(workspace, review.id, state, self._ctx.clock()):
                raise _already_reviewed(name)
            decided = await repository.get_review(workspace, review.id)
            await uow.commit()
        _log.info(
            "match review decided",
            extra={"resource": name, "status": str(state)},
        )
        assert decided is not None
        return decided

    async def _thresholds(self, workspace: str) -> Thresholds:
        """The workspace's matching thresholds (its identity rules, defaults filled in)."""
        matching = (await self._ctx.rules.get(workspace)).matching
        defaults = Thresholds()
        return Thresholds(
            merge=matching.merge_threshold or defaults.merge,
            review=matching.review_threshold or defaults.review,
        )

    # --- names ------------------------------------------------------------------------------

    def _workspace(self, parent: str, *, field: str) -> str:
        workspace = parse_name(WORKSPACE, parent, field=field)["workspace"]
        require_workspace(workspace, self._ctx.workspaces)
        return workspace

    @staticmethod
    def job_name(workspace: str, job_id: str) -> str:
        return DEDUPLICATION_JOB.format(workspace=workspace, job=job_id)

    @staticmethod
    def review_name(workspace: str, review_id: str) -> str:
        return MATCH_REVIEW.format(workspace=workspace, review=review_id)


class _Progress:
    """The latest progress, written by the worker thread and read by the event loop."""

    def __init__(self, value: float) -> None:
        self.value = value


def _bad_page_token() -> InvalidArgument:
    return InvalidArgument("page_token", "is not a token returned by this method")


def _require_pending(review: MatchReview, name: str) -> None:
    if review.state is not ReviewState.PENDING:
        raise _already_reviewed(name)


def _already_reviewed(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        "ALREADY_REVIEWED", f"{name} was already decided", {"match_review": name}
    )


def _best_matches(
    model: MatchModel,
    record: PersonRecord,
    records: Sequence[PersonRecord],
    exclude: str | None,
    min_probability: float,
    max_results: int,
) -> list[Match]:
    """In the worker thread: the best scored candidates sharing a block with ``record``."""
    candidates = [
        records[int(index)]
        for index in model.candidates_for(record, records)
        if records[int(index)].record_id != exclude
    ]
    if not candidates:
        return []
    probabilities = model.score_pairs([record] * len(candidates), candidates)
    ranked = sorted(
        (
            (float(probability), candidate)
            for probability, candidate in zip(probabilities, candidates, strict=True)
            if probability >= min_probability
        ),
        key=lambda scored: (-scored[0], scored[1].record_id),
    )[:max_results]
    matches = []
    for probability, candidate in ranked:
        explanation = model.explain(record, candidate)
        matches.append(
            Match(
                customer_id=candidate.record_id,
                probability=probability,
                match_weight=float(explanation.match_weight),
                comparisons=_attribute_comparisons(explanation),
            )
        )
    return matches


def _attribute_comparisons(explanation: MatchExplanation) -> list[tuple[str, str, float]]:
    """How each attribute compared (the engine also lists the prior odds: not an attribute)."""
    return [
        (attribute, level, float(factor))
        for attribute, level, factor in explanation.comparisons
        if attribute in ATTRIBUTES
    ]


def _person_records(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[PersonRecord]:
    """In the worker thread: a large workspace's records take a while to build."""
    return [person_record(customer_id, attributes) for customer_id, attributes in rows]
