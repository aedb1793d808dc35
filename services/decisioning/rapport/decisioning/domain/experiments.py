"""Experiments and control groups, conversion rules, and the statistics of their reports.

Assignment is deterministic: a hash of experiment and customer picks the arm by the
arms' weights, so a customer always lands in the same arm, on every replica, with
nothing stored per customer. The pipeline's experiment step (pipeline.py) applies
the arm: CONTROL holds the experiment's actions back (the decision is still stored,
marked, so control customers' outcomes and conversions are measured); MODEL,
RULES_ONLY and RANDOM choose how the remaining candidates are scored.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rapport.errors import FailedPrecondition, InvalidArgument

from . import names
from .checks import is_event_name, text, validate_resource_id
from .model import Action, Decision, ExclusionReason

MAX_ARMS = 20
MIN_ARMS = 2
MAX_ARM_WEIGHT = 10_000
MAX_EXPERIMENT_ACTIONS = 100
MAX_DISPLAY_NAME_CHARS = 256
MIN_CONVERSION_WINDOW = timedelta(minutes=1)
MAX_CONVERSION_WINDOW = timedelta(days=366)
# Two-sided 95% normal quantile.
Z_95 = 1.959963984540054


class Strategy(enum.Enum):
    MODEL = "model"
    RULES_ONLY = "rules_only"
    RANDOM = "random"
    CONTROL = "control"


@dataclass(frozen=True)
class Arm:
    arm_id: str
    strategy: Strategy
    weight: int


@dataclass(frozen=True)
class ExperimentDraft:
    """An experiment before validation; action ids already extracted from their names."""

    display_name: str = ""
    action_ids: tuple[str, ...] = ()
    arms: tuple[Arm, ...] = ()
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True)
class Experiment:
    workspace: str
    experiment_id: str
    display_name: str
    # Empty means every action.
    action_ids: tuple[str, ...]
    arms: tuple[Arm, ...]
    start_time: datetime | None
    end_time: datetime | None
    create_time: datetime

    @property
    def name(self) -> str:
        return names.experiment_name(self.workspace, self.experiment_id)

    @property
    def starts(self) -> datetime:
        return self.start_time or self.create_time

    def running(self, now: datetime) -> bool:
        return self.starts <= now and (self.end_time is None or now < self.end_time)

    def draft(self) -> ExperimentDraft:
        return ExperimentDraft(
            self.display_name, self.action_ids, self.arms, self.start_time, self.end_time
        )

    def covers(self, action: Action) -> bool:
        return self.covers_id(action.action_id)

    def covers_id(self, action_id: str) -> bool:
        return not self.action_ids or action_id in self.action_ids

    def arm_for(self, customer: str) -> Arm:
        """The customer's arm: a hash of experiment and customer, by the arms' weights."""
        digest = hashlib.sha256(f"{self.name}\x1f{customer}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % sum(arm.weight for arm in self.arms)
        for arm in self.arms:
            if point < arm.weight:
                return arm
            point -= arm.weight
        raise AssertionError("weights cover every point")  # pragma: no cover


@dataclass(frozen=True)
class Assignment:
    experiment: Experiment
    arm: Arm

    @property
    def control(self) -> bool:
        return self.arm.strategy is Strategy.CONTROL


def assign(
    experiments: Sequence[Experiment], customer: str, actions: Sequence[Action], now: datetime
) -> Assignment | None:
    """The first running experiment (by id) about one of `actions`, and the customer's arm."""
    for experiment in sorted(experiments, key=lambda e: e.experiment_id):
        if experiment.running(now) and any(experiment.covers(a) for a in actions):
            return Assignment(experiment, experiment.arm_for(customer))
    return None


def random_order(count: int, seed: str) -> list[float]:
    """`count` uniform draws seeded by `seed` (the decision's id): ranking by them is a
    uniformly random permutation, the same again for a replayed decision."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    return [rng.random() for _ in range(count)]


def validate_experiment(draft: ExperimentDraft, prefix: str = "experiment") -> ExperimentDraft:
    display_name = text(draft.display_name, f"{prefix}.display_name", MAX_DISPLAY_NAME_CHARS)
    if len(draft.action_ids) > MAX_EXPERIMENT_ACTIONS:
        raise InvalidArgument(f"{prefix}.actions", f"at most {MAX_EXPERIMENT_ACTIONS} actions")
    if len(set(draft.action_ids)) != len(draft.action_ids):
        raise InvalidArgument(f"{prefix}.actions", "names an action twice")
    if not MIN_ARMS <= len(draft.arms) <= MAX_ARMS:
        raise InvalidArgument(f"{prefix}.arms", f"must hold {MIN_ARMS} to {MAX_ARMS} arms")
    seen: set[str] = set()
    for index, arm in enumerate(draft.arms):
        field = f"{prefix}.arms[{index}]"
        validate_resource_id(arm.arm_id, f"{field}.arm_id")
        if arm.arm_id in seen:
            raise InvalidArgument(f"{field}.arm_id", "is used by another arm")
        seen.add(arm.arm_id)
        if not 1 <= arm.weight <= MAX_ARM_WEIGHT:
            raise InvalidArgument(f"{field}.weight", f"must be between 1 and {MAX_ARM_WEIGHT}")
    if sum(arm.strategy is Strategy.CONTROL for arm in draft.arms) > 1:
        raise InvalidArgument(f"{prefix}.arms", "at most one arm may be CONTROL")
    if draft.start_time and draft.end_time and draft.end_time <= draft.start_time:
        raise InvalidArgument(f"{prefix}.end_time", "must be after start_time")
    return ExperimentDraft(
        display_name, draft.action_ids, draft.arms, draft.start_time, draft.end_time
    )


def validate_new_experiment(draft: ExperimentDraft, now: datetime) -> ExperimentDraft:
    """A new experiment's fields, validated: it must still have a moment to run.

    An end already past would create an experiment that never assigns anyone (an
    update may still stop a running one by moving its end into the past: see revise).
    """
    validated = validate_experiment(draft)
    if validated.end_time is not None and validated.end_time <= now:
        raise InvalidArgument(
            "experiment.end_time", "is already past: a new experiment must end in the future"
        )
    return validated


# What decides a customer's arm and what the experiment is about: fixed once it starts.
FIXED_ONCE_STARTED = ("actions", "arms", "start_time")
_DRAFT_ATTRIBUTES = {"actions": "action_ids"}


def revise(
    current: Experiment, update: ExperimentDraft, paths: Collection[str], now: datetime
) -> Experiment:
    """``current`` with the fields of ``paths`` taken from ``update``, validated.

    Once the experiment has started, its actions, arms and start stay as they are
    (FAILED_PRECONDITION when the update would change them): a customer's arm is a
    hash over the arms, so changing them would move customers between arms mid-way.
    The end can move at any time, but not into the past: an end already past stops
    a running experiment now, and an ended experiment's end cannot be moved earlier.
    """
    started = current.starts <= now
    draft = current.draft()
    changes = {}
    for path in paths:
        attribute = _DRAFT_ATTRIBUTES.get(path, path)
        value = getattr(update, attribute)
        if value == getattr(draft, attribute):
            continue
        if started and path in FIXED_ONCE_STARTED:
            raise FailedPrecondition(
                "EXPERIMENT_STARTED",
                f"experiment.{path} cannot change once the experiment has started "
                "(customers keep their arms); create a new experiment instead",
                {"field": f"experiment.{path}"},
            )
        changes[attribute] = value
    end = changes.get("end_time", draft.end_time)
    if "end_time" in changes and end is not None and end < now:
        if current.end_time is not None and current.end_time <= now:
            raise FailedPrecondition(
                "EXPERIMENT_ENDED",
                "experiment.end_time: the experiment has ended; its end can be moved "
                "to a later time, not into the past",
                {"field": "experiment.end_time"},
            )
        if started:
            changes["end_time"] = now  # stopped now: it ran until this moment
    revised = validate_experiment(replace(draft, **changes))
    return replace(
        current,
        display_name=revised.display_name,
        action_ids=revised.action_ids,
        arms=revised.arms,
        start_time=revised.start_time,
        end_time=revised.end_time,
    )


@dataclass(frozen=True)
class ConversionRule:
    workspace: str
    rule_id: str
    action_id: str
    event_name: str
    window: timedelta
    create_time: datetime

    @property
    def name(self) -> str:
        return names.conversion_rule_name(self.workspace, self.rule_id)

    @property
    def action_name(self) -> str:
        return names.action_name(self.workspace, self.action_id)

    def window_start(self, happened: datetime) -> datetime:
        """The earliest decision an event at `happened` converts: `window` before it,
        or the first representable moment for an event that close to year 1."""
        try:
            return happened - self.window
        except OverflowError:
            return datetime.min.replace(tzinfo=happened.tzinfo)

    def experiments_about(self, experiments: Iterable[Experiment]) -> frozenset[str]:
        """The ids of those of `experiments` about the rule's action (see `converts`)."""
        return frozenset(e.experiment_id for e in experiments if e.covers_id(self.action_id))


def converts(decision: Decision, action: str, experiments_about_action: Collection[str]) -> bool:
    """Whether a conversion of `action` (its name) may be credited to `decision`.

    Intent to treat: a decision that assigned the customer to an arm of an experiment
    about the action (`experiments_about_action`: those experiments' ids) counts in
    every arm alike, whatever the arm did with the action (returned, held back for
    control, outranked, left out by a contact limit). Crediting only the decisions
    that returned it would leave the treated arm's losers of arbitration in its reach
    with no conversions, while the control arm keeps all of its own. Outside an
    experiment, only a decision that returned the action converts; a decision of a
    since deleted experiment still converts where it held the action back.
    """
    if decision.experiment_id and decision.experiment_id in experiments_about_action:
        return True
    return any(r.action == action for r in decision.actions) or any(
        e.action == action and e.reason is ExclusionReason.CONTROL_GROUP for e in decision.excluded
    )


def validate_conversion_rule(
    event_name: str, window: timedelta | None, prefix: str = "conversion_rule"
) -> None:
    if not event_name:
        raise InvalidArgument(f"{prefix}.event_name", "is required")
    if not is_event_name(event_name):
        raise InvalidArgument(f"{prefix}.event_name", "is not a valid event name")
    if window is None:
        raise InvalidArgument(f"{prefix}.window", "is required")
    if not MIN_CONVERSION_WINDOW <= window <= MAX_CONVERSION_WINDOW:
        raise InvalidArgument(f"{prefix}.window", "must be from 1 minute to 366 days")


# -- statistics --------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    estimate: float
    lower: float
    upper: float


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """The Wilson score interval of a binomial proportion (0, 0, 0 without trials)."""
    if trials <= 0:
        return Interval(0.0, 0.0, 0.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or all successes the bound is exactly 0 or 1; rounding would report 1e-17.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(p, lower, upper)


def uplift(treated: tuple[int, int], control: tuple[int, int], z: float = Z_95) -> Interval:
    """Difference of two proportions (treated - control), successes over trials each, with
    Newcombe's hybrid score interval (method 10) built from the two Wilson intervals."""
    (s1, n1), (s2, n2) = treated, control
    a, b = wilson(s1, n1, z), wilson(s2, n2, z)
    difference = a.estimate - b.estimate
    lower = difference - math.sqrt((a.estimate - a.lower) ** 2 + (b.upper - b.estimate) ** 2)
    upper = difference + math.sqrt((a.upper - a.estimate) ** 2 + (b.estimate - b.lower) ** 2)
    return Interval(difference, max(-1.0, lower), min(1.0, upper))
