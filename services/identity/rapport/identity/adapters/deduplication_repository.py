"""Storage of deduplication jobs and match reviews (SQLAlchemy Core, SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rapport.identity.domain.deduplication import (
    ACTIVE_JOB_STATES,
    DeduplicationJob,
    JobState,
    MatchReview,
    ReviewState,
    Thresholds,
)
from rapport.sqlstore import advisory_key, advisory_xact_locks, as_utc
from sqlalchemy import Row, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .repository import LOCK_NAMESPACE
from .tables import deduplication_jobs, match_reviews, stored_pairs


def _job(row: Row[Any]) -> DeduplicationJob:
    return DeduplicationJob(
        workspace=row.workspace,
        id=row.job_id,
        state=JobState(row.state),
        progress=row.progress,
        thresholds=Thresholds(merge=row.merge_threshold, review=row.review_threshold),
        create_time=as_utc(row.create_time),  # type: ignore[arg-type]
        record_count=row.record_count,
        candidate_pair_count=row.candidate_pair_count,
        merged_count=row.merged_count,
        review_count=row.review_count,
        error=row.error,
        end_time=as_utc(row.end_time),
    )


def _review(row: Row[Any]) -> MatchReview:
    return MatchReview(
        workspace=row.workspace,
        id=row.review_id,
        customer_a=row.customer_a,
        customer_b=row.customer_b,
        probability=row.probability,
        details=dict(row.details or {}),
        state=ReviewState(row.state),
        create_time=as_utc(row.create_time),  # type: ignore[arg-type]
        job_id=row.job_id,
        review_time=as_utc(row.review_time),
    )


def job_lock_key(workspace: str) -> int:
    """The advisory lock key serialising job creation in a workspace."""
    return advisory_key(f"{LOCK_NAMESPACE}.dedup", workspace)


class DeduplicationRepository:
    """Deduplication jobs and match reviews of every workspace, on one connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    # --- deduplication jobs ----------------------------------------------------------

    async def lock_jobs(self, workspace: str) -> None:
        """Serialise job creation per workspace (PostgreSQL; SQLite has one writer anyway)."""
        await advisory_xact_locks(self._connection, [job_lock_key(workspace)])

    async def active_job(self, workspace: str) -> DeduplicationJob | None:
        row = (
            await self._connection.execute(
                select(deduplication_jobs)
                .where(
                    deduplication_jobs.c.workspace == workspace,
                    deduplication_jobs.c.state.in_([str(s) for s in ACTIVE_JOB_STATES]),
                )
                .limit(1)
            )
        ).first()
        return None if row is None else _job(row)

    async def add_job(self, job: DeduplicationJob) -> None:
        await self._connection.execute(
            insert(deduplication_jobs).values(
                workspace=job.workspace,
                job_id=job.id,
                state=str(job.state),
                progress=job.progress,
                merge_threshold=job.thresholds.merge,
                review_threshold=job.thresholds.review,
                record_count=job.record_count,
                candidate_pair_count=job.candidate_pair_count,
                merged_count=job.merged_count,
                review_count=job.review_count,
                error=job.error,
                create_time=job.create_time,
                end_time=job.end_time,
            )
        )

    async def get_job(self, workspace: str, job_id: str) -> DeduplicationJob | None:
        row = (
            await self._connection.execute(
                select(deduplication_jobs).where(
                    deduplication_jobs.c.workspace == workspace,
                    deduplication_jobs.c.job_id == job_id,
                )
            )
        ).first()
        return None if row is None else _job(row)

    async def list_jobs(
        self, workspace: str, before: tuple[datetime, str] | None, limit: int
    ) -> list[DeduplicationJob]:
        """Newest first, starting after the (create_time, job id) key ``before``."""
        statement = select(deduplication_jobs).where(deduplication_jobs.c.workspace == workspace)
        if before is not None:
            before_time, before_id = before
            statement = statement.where(
                or_(
                    deduplication_jobs.c.create_time < before_time,
                    and_(
                        deduplication_jobs.c.create_time == before_time,
                        deduplication_jobs.c.job_id < before_id,
                    ),
                )
            )
        statement = statement.order_by(
            deduplication_jobs.c.create_time.desc(), deduplication_jobs.c.job_id.desc()
        ).limit(limit)
        return [_job(row) for row in (await self._connection.execute(statement)).all()]

    async def update_job(
        self,
        workspace: str,
        job_id: str,
        *,
        from_states: Sequence[JobState] | None = None,
        **values: Any,
    ) -> bool:
        """Set columns of a job (only when in one of ``from_states``); True if it changed."""
        statement = update(deduplication_jobs).where(
            deduplication_jobs.c.workspace == workspace, deduplication_jobs.c.job_id == job_id
        )
        if from_states is not None:
            statement = statement.where(
                deduplication_jobs.c.state.in_([str(state) for state in from_states])
            )
        if "state" in values:
            values["state"] = str(values["state"])
        result = await self._connection.execute(statement.values(**values))
        return bool(result.rowcount)

    async def fail_active_jobs(self, error: str, now: datetime) -> int:
        """Every PENDING or RUNNING job of every workspace -> FAILED (at start-up)."""
        result = await self._connection.execute(
            update(deduplication_jobs)
            .where(deduplication_jobs.c.state.in_([str(s) for s in ACTIVE_JOB_STATES]))
            .values(state=str(JobState.FAILED), error=error, end_time=now)
        )
        return int(result.rowcount or 0)

    # --- match reviews ------------------------------------------------------------------

    async def reviewed_pairs(
        self, workspace: str, pairs: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Those of the (ordered) pairs that already have a review, in any state."""
        return await stored_pairs(
            self._connection, match_reviews, ("customer_a", "customer_b"), workspace, pairs
        )

    async def add_reviews(self, reviews: Sequence[MatchReview]) -> None:
        if not reviews:
            return
        await self._connection.execute(
            insert(match_reviews),
            [
                {
                    "workspace": review.workspace,
                    "review_id": review.id,
                    "customer_a": review.customer_a,
                    "customer_b": review.customer_b,
                    "probability": review.probability,
                    "details": review.details,
                    "state": str(review.state),
                    "job_id": review.job_id,
                    "create_time": review.create_time,
                    "review_time": review.review_time,
                }
                for review in reviews
            ],
        )

    async def get_review(self, workspace: str, review_id: str) -> MatchReview | None:
        row = (
            await self._connection.execute(
                select(match_reviews).where(
                    match_reviews.c.workspace == workspace, match_reviews.c.review_id == review_id
                )
            )
        ).first()
        return None if row is None else _review(row)

    async def list_reviews(
        self,
        workspace: str,
        state: ReviewState,
        after: tuple[float, str] | None,
        limit: int,
    ) -> list[MatchReview]:
        """Most probable first (then by id), starting after the (probability, id) key."""
        statement = select(match_reviews).where(
            match_reviews.c.workspace == workspace, match_reviews.c.state == str(state)
        )
        if after is not None:
            after_probability, after_id = after
            statement = statement.where(
                or_(
                    match_reviews.c.probability < after_probability,
                    and_(
                        match_reviews.c.probability == after_probability,
                        match_reviews.c.review_id > after_id,
                    ),
                )
            )
        statement = statement.order_by(
            match_reviews.c.probability.desc(), match_reviews.c.review_id
        ).limit(limit)
        return [_review(row) for row in (await self._connection.execute(statement)).all()]

    async def decide_review(
        self, workspace: str, review_id: str, state: ReviewState, now: datetime
    ) -> bool:
        """PENDING -> ``state``; False when it was decided already (by a concurrent call)."""
        result = await self._connection.execute(
            update(match_reviews)
            .where(
                match_reviews.c.workspace == workspace,
                match_reviews.c.review_id == review_id,
                match_reviews.c.state == str(ReviewState.PENDING),
            )
            .values(state=str(state), review_time=now)
        )
        return bool(result.rowcount)
