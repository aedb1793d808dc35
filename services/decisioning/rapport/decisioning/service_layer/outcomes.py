"""Use cases of outcomes: record what happened after a decision, get, list."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from rapport.decisioning.domain import names
from rapport.decisioning.domain.checks import amount
from rapport.decisioning.domain.model import Outcome
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.pagination import page_size, paginate
from rapport.sqlstore import run_with_retries

from . import commands
from .dependencies import Dependencies
from .erasure_guard import no_profile
from .listing import newest_first_position, page_before
from .models import learn_from_outcome
from .request_checks import known_channel, served_name, served_workspace
from .unit_of_work import DecisioningUnitOfWork

# Outcomes reported by clients whose clocks run a little fast are still accepted.
OUTCOME_CLOCK_SKEW = timedelta(minutes=5)
MAX_REQUEST_ID_CHARS = 200


def derived_outcome_id(*parts: str) -> str:
    """An outcome id that is the same for the same parts: a retried request, a replayed
    signal find the outcome already recorded."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _request_id(value: str) -> str:
    if len(value) > MAX_REQUEST_ID_CHARS or not all(" " <= c <= "~" for c in value):
        raise InvalidArgument(
            "request_id", f"must be 1 to {MAX_REQUEST_ID_CHARS} printable ASCII characters"
        )
    return value


def _same_outcome(a: Outcome, b: Outcome, explicit_time: bool) -> bool:
    keys = ("decision_id", "customer", "action", "type", "channel", "value")
    same = all(getattr(a, k) == getattr(b, k) for k in keys)
    return same and (not explicit_time or a.outcome_time == b.outcome_time)


async def record_outcome(cmd: commands.RecordOutcome, deps: Dependencies) -> Outcome:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    names.require_same_workspace(
        names.parse_customer(cmd.customer, "outcome.customer"), workspace, "outcome.customer"
    )
    action = names.require_same_workspace(
        names.parse_action(cmd.action, "outcome.action"), workspace, "outcome.action"
    )
    if cmd.type is None:
        raise InvalidArgument("outcome.type", "is required")
    if isinstance(cmd.type, commands.UnknownEnumValue):
        raise InvalidArgument("outcome.type", "is not a known outcome type")
    channel = known_channel(cmd.channel, "outcome.channel")
    decision_id = ""
    if cmd.decision:
        decision_id = names.require_same_workspace(
            names.parse_decision(cmd.decision, "outcome.decision"), workspace, "outcome.decision"
        ).id
    value = amount(cmd.value, "outcome.value")
    if value < 0:
        raise InvalidArgument("outcome.value", "must not be negative")
    request_id = _request_id(cmd.request_id) if cmd.request_id else ""
    now = deps.clock()
    outcome_time = cmd.outcome_time or now
    if outcome_time > now + OUTCOME_CLOCK_SKEW:
        raise InvalidArgument("outcome.outcome_time", "must not be in the future")
    outcome = Outcome(
        workspace=workspace,
        outcome_id=derived_outcome_id("request", request_id) if request_id else uuid.uuid4().hex,
        decision_id=decision_id,
        customer=cmd.customer,
        action=cmd.action,
        type=cmd.type,
        channel=channel,
        outcome_time=outcome_time,
        create_time=now,
        value=value,
    )
    # An action of the live version counts too: it may be gone from the draft already.
    live = await deps.live.get(workspace)

    async def record(uow: DecisioningUnitOfWork) -> Outcome:
        # First: an erasure of the customer then waits, or has deleted the decision.
        await uow.contacts.lock_customer(workspace, cmd.customer)
        if await uow.erased_customers.erased(workspace, cmd.customer):
            raise no_profile(cmd.customer)
        if request_id:
            existing = await uow.outcomes.get(workspace, outcome.outcome_id)
            if existing is not None:
                if not _same_outcome(existing, outcome, cmd.outcome_time is not None):
                    raise FailedPrecondition(
                        "REQUEST_ID_REUSED", "request_id was used for a different outcome"
                    )
                return existing
        if live.action(action.id) is None and await uow.actions.get(workspace, action.id) is None:
            raise NotFound(cmd.action)
        if decision_id:
            decided_for = await uow.decisions.customer_of(workspace, decision_id)
            if decided_for is None:
                raise NotFound(cmd.decision)
            if decided_for != cmd.customer:
                raise InvalidArgument("outcome.decision", "was made for another customer")
        await learn_from_outcome(uow, outcome, now)
        await uow.outcomes.add(outcome)
        return outcome

    return await run_with_retries(
        deps.uow, record, description="the outcome's request_id kept conflicting"
    )


async def get_outcome(cmd: commands.GetOutcome, deps: Dependencies) -> Outcome:
    name = served_name(names.parse_outcome, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        outcome = await uow.outcomes.get(name.workspace, name.id)
    if outcome is None:
        raise NotFound(cmd.name)
    return outcome


async def list_outcomes(
    cmd: commands.ListOutcomes, deps: Dependencies
) -> tuple[list[Outcome], str]:
    """Newest recorded first."""
    workspace = served_workspace(cmd.parent, deps.workspaces)
    decision_id = None
    if cmd.decision:
        decision_id = names.require_same_workspace(
            names.parse_decision(cmd.decision, "decision"), workspace, "decision"
        ).id
    size = page_size(cmd.page_size)
    bound_to = f"ListOutcomes:{cmd.parent}:{cmd.decision}"
    before = page_before(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    async with deps.uow(readonly=True) as uow:
        outcomes = await uow.outcomes.list_page(
            workspace, decision_id=decision_id, before=before, limit=size + 1
        )
    return paginate(
        outcomes,
        size,
        lambda o: newest_first_position(o.create_time, o.outcome_id),
        tokens=deps.page_tokens,
        bound_to=bound_to,
    )
