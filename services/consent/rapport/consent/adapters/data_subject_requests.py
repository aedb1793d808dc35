"""Data subject requests and their steps on SQLAlchemy Core.

Work is claimed with a lease: a due request is taken by one replica (PostgreSQL: rows
another transaction is claiming are skipped, FOR UPDATE SKIP LOCKED; SQLite: one
process, writers serialised) until ``leased_until``. Results are written only under the
lease that claimed the request, so a replica whose lease lapsed (it was killed, or
stalled) never overwrites what the replica that took over recorded. The claim records
when the attempts it starts began; each step's result is written as soon as it is known.
Every customer id a request covers is a row of its own, so that listing a customer's
requests is one indexed range whichever of its ids a request was made for.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from rapport.consent.adapters.data_subject_request_rows import (
    UnreadableSubjectRequest,
    covered_ids,
    request_from_row,
    request_values,
    step_values,
    stored_utc,
)
from rapport.consent.adapters.tables import data_subject_request_customers as customers_table
from rapport.consent.adapters.tables import data_subject_request_steps as steps_table
from rapport.consent.adapters.tables import data_subject_requests as requests_table
from rapport.consent.domain.subject_requests import RequestType, Step, SubjectRequest
from rapport.sqlstore import in_chunks, insert_if_absent
from sqlalchemy.ext.asyncio import AsyncConnection

_log = logging.getLogger(__name__)

_ADD_CUSTOMER = insert_if_absent(customers_table, "request_id", "customer_id")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A request claimed by one worker: ``request`` None when it could not be read."""

    id: str
    request: SubjectRequest | None
    error: UnreadableSubjectRequest | None = None


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
                create_time=stored_utc(request.create_time),
                lease_token=None,
                leased_until=None,
                **request_values(request),
            )
        )
        await self._add_customers(request, [request.customer_id, *request.covered_customer_ids])
        if request.steps:
            await self._connection.execute(
                sa.insert(steps_table),
                [
                    {"request_id": request.id, "service": s.service.value, "position": i}
                    | step_values(s)
                    for i, s in enumerate(request.steps)
                ],
            )

    async def _add_customers(self, request: SubjectRequest, customer_ids: Sequence[str]) -> None:
        """Rows for these ids the request covers (those it has already are kept)."""
        if not customer_ids:
            return
        await self._connection.execute(
            _ADD_CUSTOMER[self._connection.dialect.name],
            [
                {
                    "request_id": request.id,
                    "customer_id": customer_id,
                    "workspace": request.workspace,
                    "create_time": stored_utc(request.create_time),
                }
                for customer_id in dict.fromkeys(customer_ids)
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
        return [request_from_row(r, step_rows[r.id], with_data=with_data) for r in rows]

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
        """Newest first (create time, then id), keyset-paginated, without data_json; with
        ``customer_id``, those covering that customer (made for it, or covering it under
        another id). A request this version cannot read is logged and left out."""
        t = requests_table
        query = sa.select(t).where(t.c.workspace == workspace)
        # The keyset's columns: with a customer, its rows' copies (their index's order).
        create_time, request_id = t.c.create_time, t.c.id
        if customer_id is not None:
            c = customers_table
            query = query.join(c, c.c.request_id == t.c.id).where(
                c.c.workspace == workspace, c.c.customer_id == customer_id
            )
            create_time, request_id = c.c.create_time, c.c.request_id
        if before is not None:
            time, last_id = before[0].astimezone(UTC), before[1]
            query = query.where(
                sa.or_(create_time < time, sa.and_(create_time == time, request_id < last_id))
            )
        rows = list(
            await self._connection.execute(
                query.order_by(create_time.desc(), request_id.desc()).limit(limit)
            )
        )
        step_rows = await self._steps_of([r.id for r in rows], with_data=False)
        found: list[SubjectRequest] = []
        for row in rows:
            try:
                found.append(request_from_row(row, step_rows[row.id], with_data=False))
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
                request = request_from_row(row, step_rows[row.id], with_data=False)
                claimed.append(Claimed(row.id, replace(request, leased_until=leased_until)))
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
            .values(**request_values(request))
        )
        await self._add_customers(request, request.covered_customer_ids)

    async def save_attempt_starts(self, requests: Sequence[SubjectRequest]) -> None:
        """Write when each step's attempt under way began (None: none runs), in one
        statement for every step of these requests."""
        steps = steps_table
        rows = [
            {
                "key_request_id": request.id,
                "key_service": step.service.value,
                "start_time": stored_utc(step.attempt_start_time),
            }
            for request in requests
            for step in request.steps
        ]
        if rows:
            await self._connection.execute(
                sa.update(steps)
                .where(
                    steps.c.request_id == sa.bindparam("key_request_id"),
                    steps.c.service == sa.bindparam("key_service"),
                )
                .values(
                    attempt_start_time=sa.bindparam(
                        "start_time", type_=steps.c.attempt_start_time.type
                    )
                ),
                rows,
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
            .values(**step_values(step))
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
        # (not the whole history of the workspace's access requests). Read from the JSON
        # column, not the customer rows, which a replica older than migration 0004 (in a
        # rolling upgrade) does not write.
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
                covered = {row.customer_id, *covered_ids(row.id, row.covered_customer_ids)}
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
