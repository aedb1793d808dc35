"""CreateDataSubjectRequest, GetDataSubjectRequest, ListDataSubjectRequests.

A request is only recorded here, with one pending step per service of this
deployment; the worker (subject_request_worker.py) carries it out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rapport.consent.adapters.data_subject_requests import UnreadableSubjectRequest
from rapport.consent.domain import names
from rapport.consent.domain.subject_requests import (
    RequestType,
    Service,
    Step,
    SubjectRequest,
    customer_in_workspace,
    plan,
    require_type,
    validate_request_id,
)
from rapport.errors import AlreadyExists, FailedPrecondition, NotFound
from rapport.pagination import page_size, paginate
from rapport.resourcenames import require_workspace
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .unit_of_work import ConsentUnitOfWork

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubjectRequestsPage:
    requests: list[SubjectRequest]
    next_page_token: str


def planned_services(deps: Dependencies) -> list[Service]:
    """The services taking part: those this deployment calls, and consent."""
    return [peer.service for peer in deps.subject_rights] + [Service.CONSENT]


async def create_data_subject_request(
    cmd: commands.CreateDataSubjectRequest, deps: Dependencies
) -> SubjectRequest:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    customer = names.parse_customer(cmd.customer, field="data_subject_request.customer")
    customer_in_workspace(customer, workspace, "data_subject_request.customer")
    request_type = require_type(cmd.type, "data_subject_request.type")
    request_id = validate_request_id(cmd.request_id, "request_id")

    new = SubjectRequest(
        id=deps.new_id(),
        workspace=workspace,
        customer_id=customer.customer,
        type=request_type,
        # Read for an erasure only (identity's block_identifiers).
        block_identifiers=cmd.block_identifiers and request_type is RequestType.ERASURE,
        steps=plan(planned_services(deps)),
        create_time=deps.clock(),
        request_id=request_id,
    )

    async def attempt(uow: ConsentUnitOfWork) -> SubjectRequest:
        if request_id:
            try:
                existing = await uow.subject_requests.by_request_id(workspace, request_id)
            except UnreadableSubjectRequest as exc:
                raise _unreadable(f"request_id {request_id}", exc) from exc
            if existing is not None:
                if not existing.same_content(new):
                    raise AlreadyExists(
                        existing.name,
                        f"request_id {request_id} already created {existing.name} for "
                        "another customer, type or block_identifiers",
                    )
                return existing
        await uow.subject_requests.add(new)
        return new

    # A concurrent creation with the same request_id loses on the unique index and is
    # redone: it then finds the winner's request (as Get shows it now).
    request = (await run_with_retries(deps.uow_factory, attempt)).as_seen_at(deps.clock())
    if request.id == new.id:
        deps.subject_request_created.set()
        _log.info(
            "data subject request created",
            extra={
                "workspace": workspace,
                "customer": customer.customer,
                "resource": request.name,
                "action": request_type.value,
            },
        )
    return request


async def get_data_subject_request(
    cmd: commands.GetDataSubjectRequest, deps: Dependencies
) -> SubjectRequest:
    name = names.parse_data_subject_request(cmd.name, field="name")
    require_workspace(name.workspace, deps.workspaces)
    async with deps.uow_factory(readonly=True) as uow:
        try:
            request = await uow.subject_requests.get(
                name.workspace, name.data_subject_request, with_data=cmd.full
            )
        except UnreadableSubjectRequest as exc:
            raise _unreadable(cmd.name, exc) from exc
    if request is None:
        raise NotFound(cmd.name)
    now = deps.clock()
    return _without_expired_data(request, now).as_seen_at(now)


def _unreadable(what: str, exc: UnreadableSubjectRequest) -> FailedPrecondition:
    return FailedPrecondition(
        "UNREADABLE_DATA_SUBJECT_REQUEST",
        f"{what}: the request was stored by a newer version of consent ({exc.why})",
    )


def _without_expired_data(request: SubjectRequest, now: datetime) -> SubjectRequest:
    """What an access found is no longer handed over once expired, pruned or not yet."""
    if request.expire_time is None or request.expire_time > now:
        return request
    steps: tuple[Step, ...] = tuple(replace(s, data_json="") for s in request.steps)
    return replace(request, steps=steps)


async def list_data_subject_requests(
    cmd: commands.ListDataSubjectRequests, deps: Dependencies
) -> SubjectRequestsPage:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    customer_id: str | None = None
    if cmd.customer:
        customer = names.parse_customer(cmd.customer, field="customer")
        customer_in_workspace(customer, workspace, "customer")
        customer_id = customer.customer
    size = page_size(cmd.page_size)
    bound_to = "|".join(("ListDataSubjectRequests", cmd.parent, cmd.customer))
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    before = _position(position) if position is not None else None

    async with deps.uow_factory(readonly=True) as uow:
        found = await uow.subject_requests.newest_first(
            workspace, customer_id=customer_id, before=before, limit=size + 1
        )
    page, next_page_token = paginate(
        found, size, _list_position, tokens=deps.page_tokens, bound_to=bound_to
    )
    now = deps.clock()
    return SubjectRequestsPage([r.as_seen_at(now) for r in page], next_page_token)


def _list_position(request: SubjectRequest) -> dict[str, Any]:
    return {"create_time": request.create_time.isoformat(), "id": request.id}


def _position(position: dict[str, Any]) -> tuple[datetime, str]:
    # Tokens are authenticated: a position is always one _list_position encoded.
    return datetime.fromisoformat(position["create_time"]), str(position["id"])
