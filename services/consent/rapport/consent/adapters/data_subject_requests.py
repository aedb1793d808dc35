"""Data subject requests and their steps on SQLAlchemy Core.

Work is claimed with a lease: a due request is taken by one replica (PostgreSQL: rows
another transaction is claiming are skipped, FOR UPDATE SKIP LOCKED; SQLite: one
process, writers serialised) until ``leased_until``. Results are written only under the
lease that claimed the request, so a replica whose lease lapsed (it was killed, or
stalled) never overwrites what the replica that took over recorded. Each step's
result is written as soon as it is known.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from rapport.consent.adapters.tables import data_subject_request_steps as steps_table
from rapport.consent.adapters.tables import data_subject_requests as requests_table
from rapport.consent.domain.subject_requests import (
    RequestType,
    Service,
    Step,
    StepError,
    StepState,
    SubjectRequest,
)
from rapport.sqlstore import as_utc, in_chunks
from sqlalchemy.ext.asyncio import AsyncConnection

_log = logging.getLogger(__name__)


class UnreadableSubjectRequest(Exception):
    """A stored request holds a value this version cannot read (a newer one wrote it)."""

    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"{request_id}: {why}")
        self.request_id = request_id
        self.why = why


@dataclass(frozen=True, slots=True)
class Claimed:
    """A request claimed by one worker: ``request`` None when it could not be read."""

    id: str
    request: SubjectRequest | None
    error: UnreadableSubjectRequest | None = None


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _read_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _step(request_id: str, row: Any, *, with_data: bool) -> Step:
    try:
        service, state = Service(row.service), StepState(row.state)
    except ValueError:
        raise UnreadableSubjectRequest(request_id, "UNKNOWN_STEP_VALUE") from None
    error = (
        StepError(int(row.error_code), row.error_message or "")
        if row.error_code is not None
        else None
    )
    return Step(
        service=service,
        state=state,
        attempt_count=int(row.attempt_count),
        last_error=error,
        next_attempt_time=_read_utc(row.next_attempt_time),
        complete_time=_read_utc(row.complete_time),
        data_json=(row.data_json or "") if with_data else "",
        record_count=int(row.record_count or 0),
    )


def _covered(request_id: str, text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        ids = json.loads(text)
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise UnreadableSubjectRequest(request_id, "UNREADABLE_COVERED_CUSTOMERS")
    return tuple(ids)


def _request(row: Any, step_rows: Sequence[Any], *, with_data: bool) -> SubjectRequest:
    try:
        request_type = RequestType(row.type)
    except ValueError:
        raise UnreadableSubjectRequest(row.id, "UNKNOWN_TYPE") from None
    return SubjectRequest(
        id=row.id,
        workspace=row.workspace,
        customer_id=row.customer_id,
        type=request_type,
        block_identifiers=bool(row.block_identifiers),
        steps=tuple(_step(row.id, s, with_data=with_data) for s in step_rows),
        create_time=as_utc(row.create_time),
        request_id=row.request_id or "",
        complete_time=_read_utc(row.complete_time),
        expire_time=_read_utc(row.expire_time),
        covered_customer_ids=_covered(row.id, row.covered_customer_ids),
        erasure_epoch=int(row.erasure_epoch or 0),
    )


def _request_values(request: SubjectRequest) -> dict[str, Any]:
    return {
        "state": request.state.value,
        "complete_time": _utc(request.complete_time),
        "expire_time": _utc(request.expire_time),
        "next_attempt_time": _utc(request.next_attempt_time()),
        "covered_customer_ids": json.dumps(list(request.covered_customer_ids))
        if request.covered_customer_ids
        else None,
    }


def _step_values(step: Step) -> dict[str, Any]:
    return {
        "state": step.state.value,
        "attempt_count": step.attempt_count,
        "error_code": step.last_error.code if step.last_error is not None else None,
        "error_message": step.last_error.message if step.last_error is not None else None,
        "next_attempt_time": _utc(step.next_attempt_time),
        "complete_time": _utc(step.complete_time),
        "data_json": step.data_json or None,
        "record_count": step.record_count,
    }


_BASIC_STEP_COLUMNS = [c for c in steps_table.c if c.name != "data_json"]


class SubjectRequestRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, request: SubjectRequest) -> None:
        await self._connection.execute(
            sa.insert(requests_table).values(
                id=request.id,
                workspace=request.workspace,
                customer_id=request.customer_id,
                type=request.type.value,
                block_identifiers=request.block_identifiers,
                request_id=request.request_id or None,
                create_time=_utc(request.create_time),
                lease_token=None,
                leased_until=None,
                **_request_values(request),
            )
        )
        if request.steps:
            await self._connection.execute(
                sa.insert(steps_table),
                [
                    {"request_id": request.id, "service": s.service.value, "position": i}
                    | _step_values(s)
                    for i, s in enumerate(request.steps)
                ],
            )

    async def _steps_of(self, ids: Sequence[str], *, with_data: bool) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {i: [] for i in ids}
        columns = list(steps_table.c) if with_data else _BASIC_STEP_COLUMNS
        for chunk in in_chunks(sorted(ids)):
            rows = await self._connection.execute(
                sa.select(*columns)
                .where(steps_table.c.request_id.in_(chunk))
                .order_by(steps_table.c.request_id, steps_table.c.position)
            )
            for row in rows:
                found[row.request_id].append(row)
        return found

    async def _load(self, rows: Sequence[Any], *, with_data: bool) -> list[SubjectRequest]:
        step_rows = await self._steps_of([r.id for r in rows], with_data=with_data)
        return [_request(r, step_rows[r.id], with_data=with_data) for r in rows]

    async def get(
        self, workspace: str, request_id: str, *, with_data: bool = False
    ) -> SubjectRequest | None:
        """The request (UnreadableSubjectRequest when this version cannot read it)."""
        row = (
            await self._connection.execute(
                sa.select(requests_table).where(
                    requests_table.c.id == request_id, requests_table.c.workspace == workspace
                )
            )
        ).first()
        if row is None:
            return None
        [request] = await self._load([row], with_data=with_data)
        return request

    async def by_request_id(self, workspace: str, request_id: str) -> SubjectRequest | None:
        """The request created with this AIP-155 request id."""
        row = (
            await self._connection.execute(
                sa.select(requests_table).where(
                    requests_table.c.workspace == workspace,
                    requests_table.c.request_id == request_id,
                )
            )
        ).first()
        if row is None:
            return None
        [request] = await self._load([row], with_data=False)
        return request

    async def newest_first(
        self,
        workspace: str,
        *,
        customer_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[SubjectRequest]:
        """Newest first (create time, then id), keyset-paginated, without data_json; a
        request this version cannot read is logged and left out."""
        t = requests_table
        query = sa.select(t).where(t.c.workspace == workspace)
        if customer_id is not None:
            query = query.where(t.c.customer_id == customer_id)
        if before is not None:
            time, last_id = before[0].astimezone(UTC), before[1]
            query = query.where(
                sa.or_(t.c.create_time < time, sa.and_(t.c.create_time == time, t.c.id < last_id))
            )
        rows = list(
            await self._connection.execute(
                query.order_by(t.c.create_time.desc(), t.c.id.desc()).limit(limit)
            )
        )
        step_rows = await self._steps_of([r.id for r in rows], with_data=False)
        found: list[SubjectRequest] = []
        for row in rows:
            try:
                found.append(_request(row, step_rows[row.id], with_data=False))
            except UnreadableSubjectRequest as exc:
                _log.warning(
                    "data subject request skipped: this version cannot read it",
                    extra={"resource": row.id, "error_reason": exc.why},
                )
        return found

    async def claim_due(
        self,
        workspaces: Collection[str],
        now: datetime,
        limit: int,
        *,
        lease_token: str,
        leased_until: datetime,
    ) -> list[Claimed]:
        """Claim up to ``limit`` running requests with a step due, earliest first, whose
        lease is free or lapsed; they are this worker's until ``leased_until``."""
        t = requests_table
        now = now.astimezone(UTC)
        rows = list(
            await self._connection.execute(
                sa.select(t)
                .where(
                    t.c.next_attempt_time <= now,
                    t.c.workspace.in_(sorted(workspaces)),
                    sa.or_(t.c.leased_until.is_(None), t.c.leased_until <= now),
                )
                .order_by(t.c.next_attempt_time, t.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return []
        await self._connection.execute(
            sa.update(t)
            .where(t.c.id.in_([r.id for r in rows]))
            .values(lease_token=lease_token, leased_until=leased_until.astimezone(UTC))
        )
        step_rows = await self._steps_of([r.id for r in rows], with_data=False)
        claimed: list[Claimed] = []
        for row in rows:
            try:
                claimed.append(Claimed(row.id, _request(row, step_rows[row.id], with_data=False)))
            except UnreadableSubjectRequest as exc:
                claimed.append(Claimed(row.id, None, exc))
        return claimed

    async def leased(self, request_id: str, lease_token: str) -> SubjectRequest | None:
        """The request, locked until the transaction ends, if its lease is still
        ``lease_token``'s; None when another worker took it over."""
        t = requests_table
        row = (
            await self._connection.execute(
                sa.select(t)
                .where(t.c.id == request_id, t.c.lease_token == lease_token)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        [request] = await self._load([row], with_data=False)
        return request

    async def save(self, request: SubjectRequest) -> None:
        """Write the request's own state (its covered customers...), not its steps."""
        await self._connection.execute(
            sa.update(requests_table)
            .where(requests_table.c.id == request.id)
            .values(**_request_values(request))
        )

    async def save_step(self, request: SubjectRequest, step: Step) -> None:
        """Write one step's result and the request's state that follows from it."""
        await self.save(request)
        await self._connection.execute(
            sa.update(steps_table)
            .where(
                steps_table.c.request_id == request.id,
                steps_table.c.service == step.service.value,
            )
            .values(**_step_values(step))
        )

    async def release(self, request_id: str, lease_token: str) -> bool:
        """End the lease, if still ``lease_token``'s."""
        t = requests_table
        result = await self._connection.execute(
            sa.update(t)
            .where(t.c.id == request_id, t.c.lease_token == lease_token)
            .values(lease_token=None, leased_until=None)
        )
        return bool(result.rowcount)

    async def erase_access_results(
        self, workspace: str, customer_ids: Sequence[str], now: datetime
    ) -> int:
        """Delete what access requests covering any of these customers collected (by the
        customer they name or any id they covered: a merge split since included), end
        the expire time of those completed (what they found is gone), and bump every
        one's erasure epoch, so that an attempt of theirs still in flight collects again
        rather than record what it read before the erasure. How many steps held data."""
        t, steps = requests_table, steps_table
        erased = set(customer_ids)
        # Only those an erasure can still change: running, or holding what they found
        # (not the whole history of the workspace's access requests).
        rows = await self._connection.execute(
            sa.select(t.c.id, t.c.customer_id, t.c.covered_customer_ids).where(
                t.c.workspace == workspace,
                t.c.type == RequestType.ACCESS.value,
                sa.or_(
                    t.c.complete_time.is_(None),
                    sa.exists().where(steps.c.request_id == t.c.id, steps.c.data_json.is_not(None)),
                ),
            )
        )
        ids = []
        for row in rows:
            try:
                covered = {row.customer_id, *_covered(row.id, row.covered_customer_ids)}
            except UnreadableSubjectRequest:
                covered = {row.customer_id}
            if covered & erased:
                ids.append(row.id)
        now = now.astimezone(UTC)
        held = 0
        for chunk in in_chunks(sorted(ids)):
            result = await self._connection.execute(
                sa.update(steps)
                .where(steps.c.request_id.in_(chunk), steps.c.data_json.is_not(None))
                .values(data_json=None)
            )
            held += int(result.rowcount or 0)
            await self._connection.execute(
                sa.update(t).where(t.c.id.in_(chunk)).values(erasure_epoch=t.c.erasure_epoch + 1)
            )
            await self._connection.execute(
                sa.update(t)
                .where(t.c.id.in_(chunk), t.c.complete_time.is_not(None))
                .where(sa.or_(t.c.expire_time.is_(None), t.c.expire_time > now))
                .values(expire_time=now)
            )
        return held

    async def prune_expired(self, now: datetime) -> int:
        """Delete what access requests found once their expire time passed; how many
        steps held something."""
        t = requests_table
        ids = sa.select(t.c.id).where(t.c.expire_time <= now.astimezone(UTC))
        result = await self._connection.execute(
            sa.update(steps_table)
            .where(steps_table.c.request_id.in_(ids), steps_table.c.data_json.is_not(None))
            .values(data_json=None)
        )
        return int(result.rowcount or 0)
