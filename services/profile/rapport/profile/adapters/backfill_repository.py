"""Storage of the backfill jobs of computed traits, and the events a backfill reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rapport.profile.domain.computed import BackfillJob, ComputedTrait
from rapport.sqlstore import as_utc
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import upsert
from .tables import backfill_jobs, events

# States of a job the runner still has to run (the others: succeeded, cancelled).
_UNFINISHED = ("pending", "running")


def _job(row: Any) -> BackfillJob:
    return BackfillJob(
        row.workspace,
        row.trait_id,
        row.job_id,
        row.state,
        int(row.upto_seq),
        int(row.cursor_seq),
        int(row.processed),
        int(row.total),
        as_utc(row.create_time),
        as_utc(row.update_time),
    )


class BackfillRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # -- backfill jobs ---------------------------------------------------------------

    async def create_job(self, job: BackfillJob) -> None:
        await upsert(
            self._conn,
            backfill_jobs,
            [
                {
                    "workspace": job.workspace,
                    "trait_id": job.trait_id,
                    "job_id": job.job_id,
                    "state": job.state,
                    "upto_seq": job.upto_seq,
                    "cursor_seq": job.cursor_seq,
                    "processed": job.processed,
                    "total": job.total,
                    "create_time": as_utc(job.create_time),
                    "update_time": as_utc(job.update_time),
                    "lease_until": None,
                }
            ],
            ("workspace", "trait_id", "job_id"),
        )

    async def get_job(self, workspace: str, trait_id: str, job_id: str) -> BackfillJob | None:
        row = (
            await self._conn.execute(
                select(backfill_jobs).where(
                    backfill_jobs.c.workspace == workspace,
                    backfill_jobs.c.trait_id == trait_id,
                    backfill_jobs.c.job_id == job_id,
                )
            )
        ).first()
        return None if row is None else _job(row)

    async def jobs_of(self, workspace: str, trait_id: str) -> list[BackfillJob]:
        rows = await self._conn.execute(
            select(backfill_jobs)
            .where(backfill_jobs.c.workspace == workspace, backfill_jobs.c.trait_id == trait_id)
            .order_by(backfill_jobs.c.job_id)
        )
        return [_job(row) for row in rows]

    async def runnable_jobs(self, now: datetime, limit: int) -> list[BackfillJob]:
        rows = await self._conn.execute(
            select(backfill_jobs)
            .where(
                backfill_jobs.c.state.in_(_UNFINISHED),
                or_(
                    backfill_jobs.c.lease_until.is_(None),
                    backfill_jobs.c.lease_until <= as_utc(now),
                ),
            )
            .order_by(backfill_jobs.c.create_time)
            .limit(limit)
        )
        return [_job(row) for row in rows]

    async def unfinished_ranges(self, workspace: str) -> dict[str, list[tuple[int, int]]]:
        """By trait: the events its unfinished jobs have still to count, as (after, upto)
        ranges of event seqs (what a recount from the events must leave to them)."""
        rows = await self._conn.execute(
            select(backfill_jobs.c.trait_id, backfill_jobs.c.cursor_seq, backfill_jobs.c.upto_seq)
            .where(
                backfill_jobs.c.workspace == workspace,
                backfill_jobs.c.state.in_(_UNFINISHED),
            )
            .order_by(backfill_jobs.c.trait_id, backfill_jobs.c.job_id)
        )
        ranges: dict[str, list[tuple[int, int]]] = {}
        for row in rows:
            ranges.setdefault(row.trait_id, []).append((int(row.cursor_seq), int(row.upto_seq)))
        return ranges

    async def cancel_jobs(self, workspace: str, trait_id: str, now: datetime) -> None:
        """Stop the trait's unfinished jobs (a replica running one stops at its next
        chunk: its claim fails)."""
        await self._conn.execute(
            update(backfill_jobs)
            .where(
                backfill_jobs.c.workspace == workspace,
                backfill_jobs.c.trait_id == trait_id,
                backfill_jobs.c.state.in_(_UNFINISHED),
            )
            .values(state="cancelled", lease_until=None, update_time=as_utc(now))
        )

    async def claim_job(
        self, job: BackfillJob, *, now: datetime, until: datetime, renew: bool
    ) -> bool:
        """Hold the job until ``until``: a free (or expired) one, or ours with ``renew``."""
        query = update(backfill_jobs).where(
            backfill_jobs.c.workspace == job.workspace,
            backfill_jobs.c.trait_id == job.trait_id,
            backfill_jobs.c.job_id == job.job_id,
            backfill_jobs.c.state.in_(_UNFINISHED),
        )
        if not renew:
            query = query.where(
                or_(
                    backfill_jobs.c.lease_until.is_(None),
                    backfill_jobs.c.lease_until <= as_utc(now),
                )
            )
        result = await self._conn.execute(query.values(lease_until=as_utc(until)))
        return bool(result.rowcount)

    async def progress(
        self, job: BackfillJob, *, cursor_seq: int, processed: int, state: str, now: datetime
    ) -> None:
        await self._conn.execute(
            update(backfill_jobs)
            .where(
                backfill_jobs.c.workspace == job.workspace,
                backfill_jobs.c.trait_id == job.trait_id,
                backfill_jobs.c.job_id == job.job_id,
            )
            .values(
                cursor_seq=cursor_seq,
                processed=processed,
                state=state,
                update_time=as_utc(now),
                lease_until=None if state == "succeeded" else backfill_jobs.c.lease_until,
            )
        )

    # -- the events a backfill reads ---------------------------------------------------

    def _events_query(self, trait: ComputedTrait, since: datetime) -> Any:
        query = select(events.c.seq).where(
            events.c.workspace == trait.workspace, events.c.timestamp >= as_utc(since)
        )
        if trait.event:
            query = query.where(
                events.c.event_name == trait.event, events.c.type.in_(["track", "page", "screen"])
            )
        else:
            query = query.where(events.c.type == "track")
        return query

    async def last_event_seq(self) -> int:
        return int(await self._conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0)

    async def count_events(self, trait: ComputedTrait, since: datetime, upto_seq: int) -> int:
        inner = self._events_query(trait, since).where(events.c.seq <= upto_seq).subquery()
        return int(await self._conn.scalar(select(func.count()).select_from(inner)) or 0)

    async def events_after(
        self, trait: ComputedTrait, since: datetime, *, after_seq: int, upto_seq: int, limit: int
    ) -> list[Any]:
        """Rows (seq, customer_id, type, timestamp, message_id, document) in seq order."""
        seqs = (
            self._events_query(trait, since)
            .where(events.c.seq > after_seq, events.c.seq <= upto_seq)
            .order_by(events.c.seq)
            .limit(limit)
        )
        rows = await self._conn.execute(
            select(
                events.c.seq,
                events.c.customer_id,
                events.c.type,
                events.c.timestamp,
                events.c.message_id,
                events.c.document,
            )
            .where(events.c.seq.in_(seqs.scalar_subquery()))
            .order_by(events.c.seq)
        )
        return list(rows)
