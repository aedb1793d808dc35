"""Data subject requests: export and erase what decisioning holds on one customer.

Held per customer: decisions (with their experiment arm and the score parts and
probabilities of their actions), outcomes, contacts counted against the contact
limits, links from sent messages to decisions, scheduled time-window firings and
trigger throttle records. Experiment assignment is a hash
of customer and experiment, so nothing per customer is stored for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Decision, Outcome
from rapport.decisioning.domain.outbound import DependencyError
from rapport.errors import InvalidArgument, Unavailable
from rapport.pagination import page_size

from . import commands
from .dependencies import Dependencies
from .listing import PAGE_TOKEN, newest_first_position
from .request_checks import served_workspace

log = logging.getLogger(__name__)

_DECISIONS, _OUTCOMES = "decisions", "outcomes"


@dataclass(frozen=True)
class CustomerExport:
    decisions: tuple[Decision, ...]
    outcomes: tuple[Outcome, ...]
    next_page_token: str


@dataclass(frozen=True)
class Erased:
    decisions: int
    outcomes: int
    contacts: int
    sent_messages: int
    schedules: int


def _customer(parent: str, customer: str, deps: Dependencies) -> str:
    workspace = served_workspace(parent, deps.workspaces)
    if not customer:
        raise InvalidArgument("customer", "is required")
    names.require_same_workspace(names.parse_customer(customer, "customer"), workspace, "customer")
    return workspace


def _position(value: dict[str, Any]) -> tuple[str, tuple[datetime, str] | None]:
    phase = value.get("phase")
    if phase not in (_DECISIONS, _OUTCOMES):
        raise InvalidArgument(PAGE_TOKEN, "is not a token returned by this method")
    if "time" not in value:
        return phase, None
    try:
        time = datetime.fromisoformat(value["time"])
        id_ = value["id"]
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidArgument(PAGE_TOKEN, "is not a token returned by this method") from err
    if not isinstance(id_, str) or time.tzinfo is None:
        raise InvalidArgument(PAGE_TOKEN, "is not a token returned by this method")
    return phase, (time, id_)


async def export_customer_decisions(
    cmd: commands.ExportCustomerDecisions, deps: Dependencies
) -> CustomerExport:
    """Decisions newest first, then outcomes newest first, `page_size` items a page."""
    workspace = _customer(cmd.parent, cmd.customer, deps)
    size = page_size(cmd.page_size)
    bound_to = f"ExportCustomerDecisions:{cmd.parent}:{cmd.customer}"
    decoded = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    phase, before = _position(decoded) if decoded is not None else (_DECISIONS, None)
    decisions: list[Decision] = []
    outcomes: list[Outcome] = []
    token: dict[str, Any] | None = None
    async with deps.uow(readonly=True) as uow:
        if phase == _DECISIONS:
            rows = await uow.decisions.list_page(
                workspace, customer=cmd.customer, before=before, limit=size + 1
            )
            if len(rows) > size:
                decisions = rows[:size]
                last = decisions[-1]
                token = {
                    "phase": _DECISIONS,
                    **newest_first_position(last.create_time, last.decision_id),
                }
            else:
                decisions = rows
                phase, before = _OUTCOMES, None
        if phase == _OUTCOMES and token is None:
            room = size - len(decisions)
            rows_o = await uow.outcomes.customer_page(
                workspace, cmd.customer, before=before, limit=room + 1
            )
            if len(rows_o) > room:
                outcomes = rows_o[:room]
                if outcomes:
                    last_o = outcomes[-1]
                    token = {
                        "phase": _OUTCOMES,
                        **newest_first_position(last_o.create_time, last_o.outcome_id),
                    }
                else:
                    token = {"phase": _OUTCOMES}
            else:
                outcomes = rows_o
    next_token = deps.page_tokens.encode(token, bound_to=bound_to) if token is not None else ""
    return CustomerExport(tuple(decisions), tuple(outcomes), next_token)


async def erase_customer_decisions(
    cmd: commands.EraseCustomerDecisions, deps: Dependencies
) -> Erased:
    workspace = _customer(cmd.parent, cmd.customer, deps)
    in_store = 0
    if deps.contact_store is not None:
        try:
            in_store = await deps.contact_store.forget(workspace, cmd.customer)
        except DependencyError as err:
            # Nothing erased yet: the client retries the whole erasure.
            raise Unavailable("CONTACT_STORE_UNAVAILABLE", "the contact store is down") from err
    async with deps.uow() as uow:
        erased = Erased(
            decisions=await uow.decisions.delete_customer(workspace, cmd.customer),
            outcomes=await uow.outcomes.delete_customer(workspace, cmd.customer),
            contacts=in_store + await uow.contacts.delete_customer(workspace, cmd.customer),
            sent_messages=await uow.sent_messages.delete_customer(workspace, cmd.customer),
            schedules=await uow.trigger_schedules.delete_customer(workspace, cmd.customer)
            + await uow.trigger_fires.delete_customer(workspace, cmd.customer),
        )
        await uow.commit()
    if deps.profile_cache is not None:
        deps.profile_cache.forget(cmd.customer)
    log.info(
        "customer decisions erased",
        extra={
            "workspace": workspace,
            "customer": cmd.customer,
            "count": erased.decisions + erased.outcomes + erased.contacts + erased.schedules,
        },
    )
    return erased
