"""Use cases of decisions: Decide (screen, check consent, arbitrate, store), get, list."""

from __future__ import annotations

import uuid

from rapport.decisioning.domain import arbitration, names
from rapport.decisioning.domain.model import Decision
from rapport.decisioning.domain.outbound import ConsentQuery, DependencyError
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from rapport.pagination import page_size, paginate

from . import commands
from .dependencies import Dependencies
from .listing import newest_first_position, page_before
from .request_checks import known_channel, served_name, served_workspace

DEFAULT_MAX_ACTIONS = 3
MAX_MAX_ACTIONS = 100


async def decide(cmd: commands.Decide, deps: Dependencies) -> Decision:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    names.require_same_workspace(
        names.parse_customer(cmd.customer, "customer"), workspace, "customer"
    )
    channel = known_channel(cmd.channel, "channel")
    if not 0 <= cmd.max_actions <= MAX_MAX_ACTIONS:
        raise InvalidArgument("max_actions", f"must be between 0 and {MAX_MAX_ACTIONS}")
    max_actions = cmd.max_actions or DEFAULT_MAX_ACTIONS
    now = deps.clock()

    async with deps.uow(readonly=True) as uow:
        actions = await uow.actions.list_all(workspace)

    traits = {}
    if actions:
        try:
            traits = await deps.profile.get_traits(cmd.customer) or {}
        except DependencyError as err:
            if err.transient:
                raise Unavailable(
                    "PROFILE_UNAVAILABLE", f"the profile service could not be reached ({err.code})"
                ) from err
            # The same call would fail again: deciding without the profile would be wrong.
            raise FailedPrecondition(
                "PROFILE_UNUSABLE", f"the customer's profile cannot be used ({err.code})"
            ) from err

    candidates, excluded = arbitration.screen(
        actions,
        now=now,
        requested_channel=channel,
        variables=arbitration.rule_variables(cmd.customer, traits, cmd.context),
        rules=deps.rules,
    )
    pairs = arbitration.consent_pairs(candidates)
    answers: list[bool] = []
    if pairs:
        queries = [ConsentQuery(cmd.customer, purpose, on) for purpose, on in pairs]
        try:
            answers = await deps.consent.batch_check(workspace, queries)
        except DependencyError as err:
            # Never decide without consent.
            if err.transient:
                raise Unavailable(
                    "CONSENT_UNAVAILABLE",
                    f"the consent service could not be reached ({err.code})",
                ) from err
            raise FailedPrecondition(
                "CONSENT_CHECK_REFUSED", f"the consent service refused the check ({err.code})"
            ) from err
    ranked, refused = arbitration.arbitrate(
        candidates, dict(zip(pairs, answers, strict=True)), max_actions=max_actions
    )
    decision = Decision(
        decision_id=uuid.uuid4().hex,
        workspace=workspace,
        customer=cmd.customer,
        actions=tuple(ranked),
        excluded=tuple(sorted(excluded + refused, key=lambda e: e.action)),
        channel=channel,
        source="",
        create_time=now,
    )
    async with deps.uow() as uow:
        await uow.decisions.add(decision)
        await uow.commit()
    return decision


async def get_decision(cmd: commands.GetDecision, deps: Dependencies) -> Decision:
    name = served_name(names.parse_decision, cmd.name, deps.workspaces)
    async with deps.uow(readonly=True) as uow:
        decision = await uow.decisions.get(name.workspace, name.id)
    if decision is None:
        raise NotFound(cmd.name)
    return decision


async def list_decisions(
    cmd: commands.ListDecisions, deps: Dependencies
) -> tuple[list[Decision], str]:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    customer = None
    if cmd.customer:
        names.require_same_workspace(
            names.parse_customer(cmd.customer, "customer"), workspace, "customer"
        )
        customer = cmd.customer
    size = page_size(cmd.page_size)
    bound_to = f"ListDecisions:{cmd.parent}:{cmd.customer}"
    before = page_before(deps.page_tokens, cmd.page_token, bound_to=bound_to)
    async with deps.uow(readonly=True) as uow:
        decisions = await uow.decisions.list_page(
            workspace, customer=customer, before=before, limit=size + 1
        )
    return paginate(
        decisions,
        size,
        lambda d: newest_first_position(d.create_time, d.decision_id),
        tokens=deps.page_tokens,
        bound_to=bound_to,
    )
