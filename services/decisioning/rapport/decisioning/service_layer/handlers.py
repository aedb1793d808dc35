"""One function per use case: validate fully, then read or write through the unit of work."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rapport.decisioning.adapters.dependencies import (
    ConsentClient,
    ConsentQuery,
    DeliveryClient,
    DependencyError,
    ProfileClient,
)
from rapport.decisioning.domain import arbitration
from rapport.decisioning.domain.model import (
    ACTION_PATTERN,
    CUSTOMER_PATTERN,
    WORKSPACE_PATTERN,
    Action,
    Decision,
    Outcome,
    Trigger,
)
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.domain.validation import (
    validate_action,
    validate_resource_id,
    validate_trigger,
)
from rapport.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from rapport.pagination import decode_page_token, encode_page_token, page_size
from rapport.resourcenames import parse_name, require_workspace

from . import commands
from .unit_of_work import DecisioningUnitOfWork

log = logging.getLogger(__name__)

DEFAULT_MAX_ACTIONS = 3
MAX_MAX_ACTIONS = 100
MAX_DECISION_ID_CHARS = 64
# Outcomes reported by clients whose clocks run a little fast are still accepted.
OUTCOME_CLOCK_SKEW = timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dependencies:
    """Everything a handler may use; built once in bootstrap."""

    uow: Callable[..., DecisioningUnitOfWork]  # uow(readonly=True) for reads
    profile: ProfileClient
    consent: ConsentClient
    delivery: DeliveryClient
    workspaces: Collection[str]
    rules: RuleBook = field(default_factory=RuleBook)
    clock: Callable[[], datetime] = utc_now


def _workspace(parent: str, deps: Dependencies, field_name: str = "parent") -> str:
    workspace = parse_name(WORKSPACE_PATTERN, parent, field=field_name)["workspace"]
    require_workspace(workspace, deps.workspaces)
    return workspace


def _in_workspace(pattern: str, value: str, workspace: str, field_name: str) -> dict[str, str]:
    ids = parse_name(pattern, value, field=field_name)
    if ids["workspace"] != workspace:
        raise InvalidArgument(field_name, f"must be in workspaces/{workspace}")
    return ids


def _named(pattern: str, name: str, deps: Dependencies) -> dict[str, str]:
    ids = parse_name(pattern, name, field="name")
    require_workspace(ids["workspace"], deps.workspaces)
    return ids


# -- actions -------------------------------------------------------------------------


async def create_action(cmd: commands.CreateAction, deps: Dependencies) -> Action:
    workspace = _workspace(cmd.parent, deps)
    action = validate_action(
        workspace, cmd.action_id, cmd.draft, deps.rules, create_time=deps.clock()
    )
    async with deps.uow() as uow:
        if not await uow.repository.add_action(action):
            raise AlreadyExists(action.name)
        await uow.commit()
    log.info("action created", extra={"action": action.name})
    return action


async def get_action(cmd: commands.GetAction, deps: Dependencies) -> Action:
    ids = _named(ACTION_PATTERN, cmd.name, deps)
    async with deps.uow(readonly=True) as uow:
        action = await uow.repository.get_action(ids["workspace"], ids["action"])
    if action is None:
        raise NotFound(cmd.name)
    return action


async def list_actions(cmd: commands.ListActions, deps: Dependencies) -> tuple[list[Action], str]:
    workspace = _workspace(cmd.parent, deps)
    size = page_size(cmd.page_size)
    bound_to = f"ListActions:{cmd.parent}"
    position = decode_page_token(cmd.page_token, bound_to=bound_to)
    after = str(position["after"]) if position and "after" in position else None
    async with deps.uow(readonly=True) as uow:
        actions = await uow.repository.list_actions(workspace, after=after, limit=size + 1)
    if len(actions) <= size:
        return actions, ""
    page = actions[:size]
    return page, encode_page_token({"after": page[-1].action_id}, bound_to=bound_to)


async def delete_action(cmd: commands.DeleteAction, deps: Dependencies) -> None:
    ids = _named(ACTION_PATTERN, cmd.name, deps)
    async with deps.uow() as uow:
        if not await uow.repository.delete_action(ids["workspace"], ids["action"]):
            raise NotFound(cmd.name)
        # There is no DeleteTrigger: triggers that would send the action go with it.
        removed = await uow.repository.delete_triggers_of_action(ids["workspace"], ids["action"])
        await uow.commit()
    log.info("action deleted", extra={"action": cmd.name, "count": removed})


# -- decisions -----------------------------------------------------------------------


async def decide(cmd: commands.Decide, deps: Dependencies) -> Decision:
    workspace = _workspace(cmd.parent, deps)
    _in_workspace(CUSTOMER_PATTERN, cmd.customer, workspace, "customer")
    if not 0 <= cmd.max_actions <= MAX_MAX_ACTIONS:
        raise InvalidArgument("max_actions", f"must be between 0 and {MAX_MAX_ACTIONS}")
    max_actions = cmd.max_actions or DEFAULT_MAX_ACTIONS
    now = deps.clock()

    async with deps.uow(readonly=True) as uow:
        actions = await uow.repository.list_actions(workspace)

    traits = {}
    if actions:
        try:
            traits = await deps.profile.get_traits(cmd.customer) or {}
        except DependencyError as err:
            raise Unavailable(
                "PROFILE_UNAVAILABLE", f"the profile service could not be reached ({err.code})"
            ) from err

    candidates, excluded = arbitration.screen(
        actions,
        now=now,
        requested_channel=cmd.channel,
        variables=arbitration.rule_variables(cmd.customer, traits, cmd.context),
        rules=deps.rules,
    )
    pairs = arbitration.consent_pairs(candidates)
    answers: list[bool] = []
    if pairs:
        queries = [ConsentQuery(cmd.customer, purpose, channel) for purpose, channel in pairs]
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
        actions=ranked,
        excluded=sorted(excluded + refused, key=lambda e: e.action),
        create_time=now,
    )
    async with deps.uow() as uow:
        await uow.repository.add_decision(decision)
        await uow.commit()
    return decision


async def record_outcome(cmd: commands.RecordOutcome, deps: Dependencies) -> Outcome:
    workspace = _workspace(cmd.parent, deps)
    _in_workspace(CUSTOMER_PATTERN, cmd.customer, workspace, "outcome.customer")
    action_ids = _in_workspace(ACTION_PATTERN, cmd.action, workspace, "outcome.action")
    if cmd.type is None:
        raise InvalidArgument("outcome.type", "is required")
    if len(cmd.decision_id) > MAX_DECISION_ID_CHARS:
        raise InvalidArgument(
            "outcome.decision_id", f"must be at most {MAX_DECISION_ID_CHARS} characters"
        )
    now = deps.clock()
    outcome_time = cmd.outcome_time or now
    if outcome_time > now + OUTCOME_CLOCK_SKEW:
        raise InvalidArgument("outcome.outcome_time", "must not be in the future")
    outcome = Outcome(
        workspace=workspace,
        outcome_id=uuid.uuid4().hex,
        decision_id=cmd.decision_id,
        customer=cmd.customer,
        action=cmd.action,
        type=cmd.type,
        channel=cmd.channel,
        outcome_time=outcome_time,
        create_time=now,
    )
    async with deps.uow() as uow:
        repository = uow.repository
        if await repository.get_action(workspace, action_ids["action"]) is None:
            raise NotFound(cmd.action)
        if cmd.decision_id:
            decided_for = await repository.decision_customer(workspace, cmd.decision_id)
            if decided_for is None:
                raise NotFound(
                    f"workspaces/{workspace}/decisions/{cmd.decision_id}",
                    f"decision {cmd.decision_id} not found",
                )
            if decided_for != cmd.customer:
                raise InvalidArgument("outcome.decision_id", "was made for another customer")
        await repository.add_outcome(outcome)
        await uow.commit()
    return outcome


# -- triggers ------------------------------------------------------------------------


async def create_trigger(cmd: commands.CreateTrigger, deps: Dependencies) -> Trigger:
    workspace = _workspace(cmd.parent, deps)
    validate_resource_id(cmd.trigger_id, "trigger_id")
    if not cmd.action:
        raise InvalidArgument("trigger.action", "is required")
    action_id = _in_workspace(ACTION_PATTERN, cmd.action, workspace, "trigger.action")["action"]
    draft = dataclasses.replace(cmd.draft, action_id=action_id)
    async with deps.uow() as uow:
        action = await uow.repository.get_action(workspace, action_id)
        trigger = validate_trigger(
            workspace, cmd.trigger_id, draft, action, deps.rules, create_time=deps.clock()
        )
        if not await uow.repository.add_trigger(trigger):
            raise AlreadyExists(trigger.name)
        await uow.commit()
    log.info("trigger created", extra={"trigger": trigger.name})
    return trigger


async def list_triggers(
    cmd: commands.ListTriggers, deps: Dependencies
) -> tuple[list[Trigger], str]:
    workspace = _workspace(cmd.parent, deps)
    size = page_size(cmd.page_size)
    bound_to = f"ListTriggers:{cmd.parent}"
    position = decode_page_token(cmd.page_token, bound_to=bound_to)
    after = str(position["after"]) if position and "after" in position else None
    async with deps.uow(readonly=True) as uow:
        triggers = await uow.repository.list_triggers(workspace, after=after, limit=size + 1)
    if len(triggers) <= size:
        return triggers, ""
    page = triggers[:size]
    return page, encode_page_token({"after": page[-1].trigger_id}, bound_to=bound_to)


# -- catalogue file --------------------------------------------------------------------


async def load_catalogue(cmd: commands.LoadCatalogue, deps: Dependencies) -> tuple[int, int]:
    """Create or replace the file's actions and triggers, all or nothing.

    Returns (actions, triggers) counts.
    """
    if cmd.workspace not in deps.workspaces:
        raise InvalidArgument(
            "workspace", f"{cmd.workspace!r} is not one of the configured workspaces"
        )
    now = deps.clock()
    actions: dict[str, Action] = {}
    for entry in cmd.actions:
        action = validate_action(
            cmd.workspace,
            entry.action_id,
            entry.draft,
            deps.rules,
            create_time=now,
            fields=entry.fields,
        )
        if action.action_id in actions:
            raise InvalidArgument(entry.fields.action_id, f"{action.action_id} is listed twice")
        actions[action.action_id] = action

    async with deps.uow() as uow:
        triggers: dict[str, Trigger] = {}
        for entry in cmd.triggers:
            action_id = entry.draft.action_id
            action = actions.get(action_id)
            if action is None and action_id:
                action = await uow.repository.get_action(cmd.workspace, action_id)
            trigger = validate_trigger(
                cmd.workspace,
                entry.trigger_id,
                entry.draft,
                action,
                deps.rules,
                create_time=now,
                fields=entry.fields,
            )
            if trigger.trigger_id in triggers:
                raise InvalidArgument(
                    entry.fields.trigger_id, f"{trigger.trigger_id} is listed twice"
                )
            triggers[trigger.trigger_id] = trigger
        for action in actions.values():
            await uow.repository.put_action(action)
        for trigger in triggers.values():
            await uow.repository.put_trigger(trigger)
        await uow.commit()
    return len(actions), len(triggers)
