"""Data subject requests: export and erase what decisioning holds on one customer.

Held per customer: decisions (with their experiment arm and the score parts and
probabilities of their actions), outcomes, contacts counted against the contact
limits, links from sent messages to decisions, scheduled time-window firings,
trigger throttle records, trigger activities, and the model contributions of their
outcomes (what each
outcome added to a bandit's statistics: erasure subtracts them, exactly, since the
statistics only add up). Experiment assignment is a hash
of customer and experiment, so nothing per customer is stored for it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.decisioning.adapters.model_contributions import Contribution
from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Decision, Outcome
from rapport.decisioning.domain.outbound import DependencyError
from rapport.decisioning.domain.trigger_activity import TriggerActivity
from rapport.errors import InvalidArgument, Unavailable
from rapport.pagination import page_size

from . import commands
from .dependencies import Dependencies
from .listing import PAGE_TOKEN, newest_first_position
from .request_checks import served_workspace
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

_DECISIONS, _OUTCOMES, _CONTRIBUTIONS = "decisions", "outcomes", "contributions"
_ACTIVITIES = "trigger_activities"
# The export's order; a page token names the phase it resumes in (tokens of the phases
# before trigger activities existed resume as ever).
_PHASES = (_DECISIONS, _OUTCOMES, _CONTRIBUTIONS, _ACTIVITIES)
Position = tuple[datetime, str]


@dataclass(frozen=True)
class CustomerExport:
    decisions: tuple[Decision, ...]
    outcomes: tuple[Outcome, ...]
    next_page_token: str
    contributions: tuple[Contribution, ...] = ()
    trigger_activities: tuple[TriggerActivity, ...] = ()


@dataclass(frozen=True)
class Erased:
    decisions: int
    outcomes: int
    contacts: int
    sent_messages: int
    schedules: int
    model_contributions: int = 0
    trigger_activities: int = 0


def _customer(parent: str, customer: str, deps: Dependencies) -> str:
    workspace = served_workspace(parent, deps.workspaces)
    if not customer:
        raise InvalidArgument("customer", "is required")
    names.require_same_workspace(names.parse_customer(customer, "customer"), workspace, "customer")
    return workspace


def _position(value: dict[str, Any]) -> tuple[str, Position | None]:
    phase = value.get("phase")
    if phase not in _PHASES:
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


async def _rows(
    uow: DecisioningUnitOfWork,
    phase: str,
    workspace: str,
    customer: str,
    before: Position | None,
    limit: int,
) -> tuple[list[Any], Callable[[Any], Position]]:
    """One phase's items newest first, and the position of an item."""
    if phase == _DECISIONS:
        decisions = await uow.decisions.list_page(
            workspace, customer=customer, before=before, limit=limit
        )
        return decisions, lambda d: (d.create_time, d.decision_id)
    if phase == _OUTCOMES:
        outcomes = await uow.outcomes.customer_page(workspace, customer, before=before, limit=limit)
        return outcomes, lambda o: (o.create_time, o.outcome_id)
    if phase == _CONTRIBUTIONS:
        contributions = await uow.models.contributions.customer_page(
            workspace, customer, before=before, limit=limit
        )
        return contributions, lambda c: (c.create_time, c.key)
    activities = await uow.trigger_activities.list_page(
        workspace, customer=customer, before=before, limit=limit
    )
    return activities, lambda a: (a.create_time, a.activity_id)


async def export_customer_decisions(
    cmd: commands.ExportCustomerDecisions, deps: Dependencies
) -> CustomerExport:
    """Decisions newest first, then outcomes newest first, then model contributions
    newest first, then trigger activities newest first, `page_size` items a page."""
    workspace = _customer(cmd.parent, cmd.customer, deps)
    size = page_size(cmd.page_size)
    bound_to = f"ExportCustomerDecisions:{cmd.parent}:{cmd.customer}"
    decoded = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    phase, before = _position(decoded) if decoded is not None else (_DECISIONS, None)
    found: dict[str, list[Any]] = {p: [] for p in _PHASES}
    token: dict[str, Any] | None = None
    room = size
    async with deps.uow(readonly=True) as uow:
        for current in _PHASES[_PHASES.index(phase) :]:
            rows, position = await _rows(uow, current, workspace, cmd.customer, before, room + 1)
            before = None
            if len(rows) <= room:
                found[current], room = rows, room - len(rows)
                continue
            found[current] = rows[:room]
            token = {"phase": current}
            if found[current]:
                token.update(newest_first_position(*position(found[current][-1])))
            break
    next_token = deps.page_tokens.encode(token, bound_to=bound_to) if token is not None else ""
    return CustomerExport(
        tuple(found[_DECISIONS]),
        tuple(found[_OUTCOMES]),
        next_token,
        tuple(found[_CONTRIBUTIONS]),
        tuple(found[_ACTIVITIES]),
    )


async def _erase_contributions(
    uow: DecisioningUnitOfWork, workspace: str, customer: str, now: datetime
) -> int:
    """Subtract the customer's contributions from the bandits' statistics, under the
    (model, action) locks, and delete them; how many there were. Contributions added
    to other pairs meanwhile stay, for the next erasure."""
    pairs = await uow.models.contributions.customer_pairs(workspace, customer)
    if not pairs:
        return 0
    await uow.models.lock_statistics(workspace, pairs)
    removed = await uow.models.contributions.take_customer(workspace, customer, pairs)
    for part in removed:
        await uow.models.subtract_observations(workspace, part, now)
    return sum(part.rows for part in removed)


async def erase_customer_decisions(
    cmd: commands.EraseCustomerDecisions, deps: Dependencies
) -> Erased:
    """Delete what is held on the customer and tombstone them (erased_customers.py), in
    one transaction: a Decide, trigger or outcome that read the customer before then
    writes nothing after it."""
    workspace = _customer(cmd.parent, cmd.customer, deps)
    now = deps.clock()
    async with deps.uow() as uow:
        # First the customer's lock, as what records outcomes and decisions takes it (an
        # outcome that read its decision is written before this runs), then the
        # statistics locks before any row the erasure deletes, as learning does.
        await uow.contacts.lock_customer(workspace, cmd.customer)
        contributions = await _erase_contributions(uow, workspace, cmd.customer, now)
        erased = Erased(
            decisions=await uow.decisions.delete_customer(workspace, cmd.customer),
            outcomes=await uow.outcomes.delete_customer(workspace, cmd.customer),
            contacts=await uow.contacts.delete_customer(workspace, cmd.customer),
            sent_messages=await uow.sent_messages.delete_customer(workspace, cmd.customer),
            schedules=await uow.trigger_schedules.delete_customer(workspace, cmd.customer)
            + await uow.trigger_fires.delete_customer(workspace, cmd.customer),
            model_contributions=contributions,
            trigger_activities=await uow.trigger_activities.delete_customer(
                workspace, cmd.customer
            ),
        )
        await uow.erased_customers.record(workspace, cmd.customer, now)
        await uow.commit()
    if deps.profile_cache is not None:
        deps.profile_cache.forget(cmd.customer)
    if erased.model_contributions:
        deps.models.forget(workspace)
    if deps.contact_store is not None:
        # After the tombstone: a Decide that reserves in Redis from now on has its
        # decision refused and forgets its reservation (decision_making.py); one that
        # reserved earlier is forgotten here.
        try:
            in_store = await deps.contact_store.forget(workspace, cmd.customer)
        except DependencyError as err:
            # The client retries the erasure, which then finishes here.
            raise Unavailable("CONTACT_STORE_UNAVAILABLE", "the contact store is down") from err
        erased = dataclasses.replace(erased, contacts=erased.contacts + in_store)
    log.info(
        "customer decisions erased",
        extra={
            "workspace": workspace,
            "customer": cmd.customer,
            "count": erased.decisions
            + erased.outcomes
            + erased.contacts
            + erased.schedules
            + erased.model_contributions
            + erased.trigger_activities,
        },
    )
    return erased
