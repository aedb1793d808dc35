"""Use cases of decisions: Decide (the decision pipeline, stored), get, list."""

from __future__ import annotations

import asyncio
import uuid
from zoneinfo import ZoneInfo

from rapport.decisioning.domain import names
from rapport.decisioning.domain.arbitration import ConsentPair, configured_pairs
from rapport.decisioning.domain.checks import text
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.model import Channel, Decision
from rapport.decisioning.domain.outbound import CustomerProfile, DependencyError
from rapport.decisioning.domain.pipeline import DecisionRequest
from rapport.decisioning.domain.rule_helpers import time_zone
from rapport.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from rapport.pagination import page_size, paginate

from . import commands
from .decision_making import consent_answers, customer_zone, make_decision
from .dependencies import Dependencies
from .erasure_guard import no_profile
from .listing import newest_first_position, page_before
from .request_checks import known_channel, served_name, served_workspace

DEFAULT_MAX_ACTIONS = 3
MAX_MAX_ACTIONS = 100
MAX_LABEL_CHARS = 256

# What a failed call to another service means for Decide: (transient, definite) reasons.
_REASONS = {
    "profile": ("PROFILE_UNAVAILABLE", "PROFILE_UNUSABLE"),
    "consent": ("CONSENT_UNAVAILABLE", "CONSENT_CHECK_REFUSED"),
    "redis": ("CONTACT_STORE_UNAVAILABLE", "CONTACT_STORE_UNAVAILABLE"),
}


def dependency_failure(err: DependencyError) -> Unavailable | FailedPrecondition:
    """What the caller is told: UNAVAILABLE when retrying may help, else FAILED_PRECONDITION.
    Never decide without the profile or consent."""
    transient, definite = _REASONS.get(err.service, ("DEPENDENCY_UNAVAILABLE", "DEPENDENCY_FAILED"))
    if err.transient:
        return Unavailable(
            transient, f"the {err.service} service could not be reached ({err.code})"
        )
    return FailedPrecondition(definite, f"the {err.service} service refused or failed ({err.code})")


async def customer_profile(
    deps: Dependencies, customer: str, workspace: str | None = None
) -> CustomerProfile:
    """The customer's profile; NotFound when profile has none (unknown or erased).
    With `workspace` (Decide), from the profile cache when there is one."""
    try:
        if workspace is not None and deps.profile_cache is not None:
            profile = await deps.profile_cache.get_profile(workspace, customer)
        else:
            profile = await deps.profile.get_profile(customer)
    except DependencyError as err:
        raise dependency_failure(err) from err
    if profile is None:
        raise no_profile(customer)
    return profile


async def decide(cmd: commands.Decide, deps: Dependencies) -> Decision:
    workspace = served_workspace(cmd.parent, deps.workspaces)
    names.require_same_workspace(
        names.parse_customer(cmd.customer, "customer"), workspace, "customer"
    )
    channel = known_channel(cmd.channel, "channel")
    if not 0 <= cmd.max_actions <= MAX_MAX_ACTIONS:
        raise InvalidArgument("max_actions", f"must be between 0 and {MAX_MAX_ACTIONS}")
    placement = text(cmd.placement, "placement", MAX_LABEL_CHARS)
    device = text(cmd.device, "device", MAX_LABEL_CHARS)
    zone = time_zone(cmd.time_zone) if cmd.time_zone else None
    if cmd.time_zone and zone is None:
        raise InvalidArgument("time_zone", "must be an IANA time zone such as Europe/Paris")

    config = await deps.live.get(workspace)
    # Consent asked at the same time as the profile, for every pair the configuration
    # could need; awaited only if a candidate needs it.
    pairs = configured_pairs(config, channel)
    prefetched = (
        asyncio.ensure_future(consent_answers(deps, workspace, cmd.customer, pairs))
        if pairs
        else None
    )
    try:
        return await _decide(
            cmd, deps, workspace, config, channel, placement, device, zone, prefetched
        )
    finally:
        if prefetched is not None:
            if not prefetched.done():
                prefetched.cancel()
            elif not prefetched.cancelled():
                prefetched.exception()  # retrieved: a failure not needed is not reported


async def _decide(
    cmd: commands.Decide,
    deps: Dependencies,
    workspace: str,
    config: DecisionConfig,
    channel: Channel | None,
    placement: str,
    device: str,
    zone: ZoneInfo | None,
    prefetched: asyncio.Future[dict[ConsentPair, bool]] | None,
) -> Decision:
    profile = await customer_profile(deps, cmd.customer, workspace)
    request = DecisionRequest(
        customer=cmd.customer,
        context=cmd.context,
        requested_channel=channel,
        max_actions=cmd.max_actions or DEFAULT_MAX_ACTIONS,
        now=deps.clock(),
        zone=zone or customer_zone(deps, profile),
        placement=placement,
        device=device,
    )
    try:
        return await make_decision(
            deps,
            workspace,
            config,
            profile,
            request,
            decision_id=uuid.uuid4().hex,
            prefetched_consent=prefetched,
        )
    except DependencyError as err:
        raise dependency_failure(err) from err


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
