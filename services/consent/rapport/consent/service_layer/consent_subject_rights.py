"""Consent's own part of data subject requests: whom a request covers through consent's
record of identity's merges, and the export or erasure of consent's ledger (the worker,
subject_request_worker.py, runs them as consent's step)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rapport.consent.domain.subject_requests import SubjectRequest, consent_export
from rapport.sqlstore import run_with_retries

from .dependencies import Dependencies
from .unit_of_work import ConsentUnitOfWork

_log = logging.getLogger(__name__)


async def covered_customers(
    request: SubjectRequest, found: Sequence[str], deps: Dependencies
) -> list[str]:
    """``found`` (the live customer first) with every customer consent's record of
    identity's merges groups with them; without a live customer from identity
    (``found`` is the request's customer alone), their group's survivor first."""
    async with deps.uow_factory(readonly=True) as uow:
        groups = await uow.aliases.groups(request.workspace, sorted(set(found)))
    first = list(found)
    if found == [request.customer_id]:
        first = [groups[request.customer_id].survivor, request.customer_id]
    members = {m for group in groups.values() for m in group}
    return list(dict.fromkeys([*first, *sorted(members - set(first))]))


async def _consent_members(uow: ConsentUnitOfWork, request: SubjectRequest) -> list[str]:
    """The customers whose ledger entries the request covers."""
    groups = await uow.aliases.groups(request.workspace, request.customers)
    return sorted({*request.customers, *(m for group in groups.values() for m in group)})


async def export_consent(request: SubjectRequest, deps: Dependencies) -> tuple[dict[str, Any], int]:
    """Consent's part of an access: the ledger of the customers covered, in one snapshot;
    how many entries."""
    async with deps.uow_factory(snapshot=True) as uow:
        members = await _consent_members(uow, request)
        entries = await uow.ledger.entries_of_customers(request.workspace, members)
    exported = consent_export(entries)
    return exported, len(entries)


async def erase_consent(request: SubjectRequest, deps: Dependencies) -> int:
    """Consent's part of an erasure: the ledger entries and aliases of the customer's
    group, and what earlier access requests for them found; then their cached states
    (fenced before the commit, as RecordConsent does, so no replica answers from a
    state cached before). Doing it again changes nothing more. How many entries went."""
    workspace = request.workspace

    async def attempt(uow: ConsentUnitOfWork) -> tuple[list[str], str | None, int]:
        members = await _consent_members(uow, request)
        erased = await uow.ledger.erase_customers(workspace, members, deps.clock())
        await uow.aliases.erase_customers(workspace, members)
        await uow.subject_requests.erase_access_results(workspace, members, deps.clock())
        fence = await deps.cache.fence(workspace, members)
        return members, fence, erased

    members, fence, erased = await run_with_retries(deps.uow_factory, attempt)
    for customer_id in members:
        await deps.cache.invalidate(workspace, customer_id, fence)
    _log.info(
        "consent ledger erased for a data subject request",
        extra={"resource": request.name, "customer": request.customer_id, "count": erased},
    )
    return erased
