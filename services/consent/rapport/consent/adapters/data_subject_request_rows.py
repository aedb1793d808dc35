"""Rows of data subject requests and their steps <-> the domain's requests and steps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rapport.consent.domain.subject_requests import (
    RequestType,
    Service,
    Step,
    StepError,
    StepState,
    SubjectRequest,
)
from rapport.sqlstore import as_utc


class UnreadableSubjectRequest(Exception):
    """A stored request holds a value this version cannot read (a newer one wrote it)."""

    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"{request_id}: {why}")
        self.request_id = request_id
        self.why = why


def stored_utc(value: datetime | None) -> datetime | None:
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
        attempt_start_time=_read_utc(row.attempt_start_time),
    )


def covered_ids(request_id: str, text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        ids = json.loads(text)
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise UnreadableSubjectRequest(request_id, "UNREADABLE_COVERED_CUSTOMERS")
    return tuple(ids)


def request_from_row(row: Any, step_rows: Sequence[Any], *, with_data: bool) -> SubjectRequest:
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
        covered_customer_ids=covered_ids(row.id, row.covered_customer_ids),
        erasure_epoch=int(row.erasure_epoch or 0),
        leased_until=_read_utc(row.leased_until),
    )


def request_values(request: SubjectRequest) -> dict[str, Any]:
    return {
        "state": request.state.value,
        "complete_time": stored_utc(request.complete_time),
        "expire_time": stored_utc(request.expire_time),
        "next_attempt_time": stored_utc(request.next_attempt_time()),
        "covered_customer_ids": json.dumps(list(request.covered_customer_ids))
        if request.covered_customer_ids
        else None,
    }


def step_values(step: Step) -> dict[str, Any]:
    return {
        "state": step.state.value,
        "attempt_count": step.attempt_count,
        "error_code": step.last_error.code if step.last_error is not None else None,
        "error_message": step.last_error.message if step.last_error is not None else None,
        "next_attempt_time": stored_utc(step.next_attempt_time),
        "complete_time": stored_utc(step.complete_time),
        "data_json": step.data_json or None,
        "record_count": step.record_count,
        "attempt_start_time": stored_utc(step.attempt_start_time),
    }
