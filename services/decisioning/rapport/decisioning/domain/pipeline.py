"""One decision pipeline for every path (Decide, triggers): the ordered steps, pure.

1. engagement policies (scope, window, channel, eligibility / applicability /
   suitability of group and action)      -> engagement.engage
2. contact policies (suppression, limits) -> contact_policy.restrict
3. consent                                -> arbitration.filter_consent
4. experiment assignment                  -> assign_experiment (experiments.py)
5. scoring                                -> arbitration.score (a PropensityModel)
6. arbitration                            -> arbitration.arbitrate

The service layer brings what needs I/O: the profile, the contact history and the
outcomes (step 2), the consent answers (step 3). Steps 2-6 are run again, with the
same consent answers, on the contact history read under the customer's lock when
the decision is stored, so concurrent decisions never exceed a limit. Every action
of the configuration ends ranked or excluded, with its reason.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from . import arbitration, contact_policy, engagement, experiments
from .config import DecisionConfig
from .contact_policy import Contact, ContactBudget, PastOutcome
from .model import Action, Channel, ExcludedAction, ExclusionReason, RankedAction, TrackedEvent
from .outbound import CustomerProfile
from .policies import PriorityPart
from .rule_helpers import helper_functions, local_time
from .rules import RuleBook, RuleEnvironment


@dataclass(frozen=True)
class DecisionRequest:
    """What one decision is asked about, already validated."""

    customer: str
    context: Mapping[str, Any]
    requested_channel: Channel | None
    max_actions: int
    now: datetime
    zone: ZoneInfo
    # A triggered decision is about one action; None means every action.
    scope: str | None = None
    signal: TrackedEvent | None = None
    placement: str = ""
    device: str = ""


@dataclass(frozen=True)
class Verdict:
    ranked: tuple[RankedAction, ...]
    # Every other action of the configuration, by name.
    excluded: tuple[ExcludedAction, ...]
    # What to record against the contact limits.
    contacts: tuple[Contact, ...] = field(default=())
    # The experiment and arm the decision took part in.
    assignment: experiments.Assignment | None = None


@dataclass(frozen=True)
class Restricted:
    candidates: tuple[engagement.Candidate, ...]
    excluded: tuple[ExcludedAction, ...]


def context_variable(request: DecisionRequest) -> dict[str, Any]:
    """What rules see as `context`: the request's context with the known keys set."""
    context = dict(request.context)
    if request.requested_channel is not None:
        context["channel"] = request.requested_channel.value
    if request.placement:
        context["placement"] = request.placement
    if request.device:
        context["device"] = request.device
    context["local_time"] = local_time(request.now, request.zone)
    context["now"] = request.now
    if request.signal is not None:
        context["signal"] = {
            "name": request.signal.name,
            "properties": request.signal.properties,
            "message_id": request.signal.message_id,
        }
    return context


@dataclass(frozen=True)
class Assigned:
    """What the experiment step leaves: the candidates, those a control group held back."""

    candidates: tuple[engagement.Candidate, ...]
    excluded: tuple[ExcludedAction, ...]
    assignment: experiments.Assignment | None


def assign_experiment(
    candidates: Sequence[engagement.Candidate],
    running: Sequence[experiments.Experiment],
    customer: str,
    now: datetime,
) -> Assigned:
    """Experiment assignment: the customer's arm of the first running experiment about a
    candidate; a CONTROL arm holds the experiment's actions back."""
    assignment = experiments.assign(running, customer, [c.action for c in candidates], now)
    if assignment is None or not assignment.control:
        return Assigned(tuple(candidates), (), assignment)
    experiment = assignment.experiment
    kept = tuple(c for c in candidates if not experiment.covers(c.action))
    held = tuple(
        ExcludedAction(
            c.action.name,
            ExclusionReason.CONTROL_GROUP,
            f"The customer is in the control group ({assignment.arm.arm_id}) of "
            f"{experiment.name}: its actions are held back to measure their effect.",
        )
        for c in candidates
        if experiment.covers(c.action)
    )
    return Assigned(kept, held, assignment)


class _RandomDraws:
    """RANDOM arms: a uniform draw per action stands in for the propensity."""

    def __init__(self, candidates: Sequence[engagement.Candidate], seed: str) -> None:
        ordered = sorted(c.action.name for c in candidates)
        self._draws = dict(zip(ordered, experiments.random_order(len(ordered), seed), strict=True))

    def propensity(self, action: Action) -> tuple[float, str]:
        return self._draws[action.name], "a random draw (experiment arm RANDOM)"


def _purposes(config: DecisionConfig) -> dict[str, str]:
    """Each action's purpose by name, kept with the configuration."""
    found = config.derived.get("purposes")
    if found is None:
        found = config.derived["purposes"] = {a.name: a.purpose for a in config.actions}
    return found


_BY_ACTION = operator.attrgetter("action")


class DecisionPipeline:
    def __init__(
        self,
        config: DecisionConfig,
        request: DecisionRequest,
        profile: CustomerProfile,
        rules: RuleBook,
        model: arbitration.PropensityModel | None = None,
        running: Sequence[experiments.Experiment] = (),
    ) -> None:
        self.config = config
        self.request = request
        self._model = model or arbitration.BasePropensity()
        self._experiments = tuple(running)
        local_date = request.now.astimezone(request.zone).date()
        self.environment: RuleEnvironment = rules.environment(
            {"profile": profile.rule_variable(), "context": context_variable(request)},
            helper_functions(local_date, request.zone),
        )
        candidates, excluded = engagement.engage(
            config,
            self.environment,
            now=request.now,
            requested_channel=request.requested_channel,
            scope=request.scope,
        )
        self.candidates = tuple(candidates)
        self.engagement_excluded = tuple(excluded)

    @cached_property
    def needs_contacts(self) -> bool:
        """Whether any candidate could be held back by a contact limit."""
        limits = self.config.settings.contact_limits
        if not limits:
            return False
        return any(
            limit.counts(channel, c.action.purpose)
            for c in self.candidates
            for channel in c.channels
            if contact_policy.counts_as_contact(channel)
            for limit in limits
        )

    @cached_property
    def needs_outcomes(self) -> bool:
        rules = self.config.settings.suppression_rules
        if not rules:
            return False
        return any(rule.applies_to(c.action) for c in self.candidates for rule in rules)

    def restrict(self, contacts: Sequence[Contact], outcomes: Sequence[PastOutcome]) -> Restricted:
        budget = ContactBudget(self.config.settings.contact_limits, contacts, self.request.now)
        kept, excluded = contact_policy.restrict(
            self.candidates, self.config.settings, budget, outcomes, self.request.now
        )
        return Restricted(tuple(kept), tuple(excluded))

    def conclude(
        self,
        restricted: Restricted,
        consent: Mapping[arbitration.ConsentPair, bool],
        contacts: Sequence[Contact],
        decision_id: str,
    ) -> Verdict:
        """Steps 3 to 6 on what contact policies left."""
        settings = self.config.settings
        allowed, refused = arbitration.filter_consent(restricted.candidates, consent)
        assigned = assign_experiment(
            allowed, self._experiments, self.request.customer, self.request.now
        )
        strategy = assigned.assignment.arm.strategy if assigned.assignment else None
        model: arbitration.PropensityModel = self._model
        arbitration_settings = settings.arbitration
        if strategy is experiments.Strategy.RULES_ONLY:
            model = arbitration.BasePropensity()
        elif strategy is experiments.Strategy.RANDOM:
            model = _RandomDraws(assigned.candidates, decision_id)
            arbitration_settings = dataclasses.replace(
                arbitration_settings, priority_parts=(PriorityPart.PROPENSITY,)
            )
        scored = arbitration.score(
            assigned.candidates,
            arbitration_settings,
            self.environment,
            model,
            kept=self.config.derived.setdefault("score_plans", {}),
        )
        budget = ContactBudget(settings.contact_limits, contacts, self.request.now)
        ranked, outranked = arbitration.arbitrate(
            scored, budget, max_actions=self.request.max_actions
        )
        if strategy is experiments.Strategy.RANDOM:
            # A uniformly random order: the k-th choice among the n - k + 1 left.
            count = len(assigned.candidates)
            ranked = [
                dataclasses.replace(r, probability=1.0 / (count - r.rank + 1)) for r in ranked
            ]
        excluded = [
            *self.engagement_excluded,
            *restricted.excluded,
            *refused,
            *assigned.excluded,
            *outranked,
        ]
        return Verdict(
            ranked=tuple(ranked),
            excluded=tuple(sorted(excluded, key=_BY_ACTION)),
            contacts=tuple(
                Contact(r.channel, self._purpose(r.action), r.action, self.request.now, decision_id)
                for r in ranked
                if contact_policy.counts_as_contact(r.channel)
            ),
            assignment=assigned.assignment,
        )

    def _purpose(self, action_name: str) -> str:
        return _purposes(self.config)[action_name]

    def run(
        self,
        contacts: Sequence[Contact],
        outcomes: Sequence[PastOutcome],
        consent: Mapping[arbitration.ConsentPair, bool],
        decision_id: str,
    ) -> Verdict:
        """Steps 2 to 6 with the consent answers already known (the re-run under lock)."""
        return self.conclude(self.restrict(contacts, outcomes), consent, contacts, decision_id)
