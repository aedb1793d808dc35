"""The rules of a workspace's segments and life stages, compiled, and what a change of
a customer makes them read (which rules, which computed traits)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapport.profile.domain.rules import (
    LIFE_STAGE_VARIABLES,
    SEGMENT_VARIABLES,
    FactChange,
    Reads,
    Rule,
    RuleCompiler,
    RuleIndex,
    RuleSyntaxError,
)
from rapport.profile.domain.segments import LifeStageModel, Segment

from .unit_of_work import ProfileUnitOfWork

# Rules compiled once per text for this process (a bounded cache).
RULES = RuleCompiler()
# How long an evaluation of every customer holds its segment or life stage model.
EVALUATION_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Definitions:
    """A workspace's compiled segments and stages."""

    segments: tuple[tuple[Segment, Rule], ...]
    stages: tuple[tuple[str, Rule], ...]
    # The segments' rules by what they read (which ones a change re-evaluates).
    index: RuleIndex = field(init=False, repr=False, compare=False)

    # Whether a stage rule reads computed traits.
    stages_read_computed: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", RuleIndex([rule for _, rule in self.segments]))
        object.__setattr__(
            self,
            "stages_read_computed",
            any("computed_traits" in rule.variables for _, rule in self.stages),
        )

    @property
    def empty(self) -> bool:
        return not self.segments and not self.stages

    def rules(self) -> list[Rule]:
        return [rule for _, rule in self.segments] + [rule for _, rule in self.stages]

    def computed_keys_read(self, change: Change) -> frozenset[str] | None:
        """The computed trait keys the rules judged for a customer with this change may
        read, whether or not its stage then changes (None: all of them)."""
        stage_judged = bool(self.stages) and (
            change.everything
            or bool(change.keys)
            or (change.computed and self.stages_read_computed)
        )
        keys = self.index.reads(self.index.affected(change.of_facts(stage_judged))).computed_keys
        if stage_judged and self.stages_read_computed and keys is not None:
            stage_keys = Reads.of(rule for _, rule in self.stages).computed_keys
            keys = None if stage_keys is None else keys | stage_keys
        return keys

    def computed_keys(self) -> frozenset[str] | None:
        """The computed trait keys the rules read (None: some rule reads them all)."""
        keys: set[str] = set()
        for rule in self.rules():
            if "computed_traits" in rule.variables:
                if rule.computed_keys is None:
                    return None
                keys |= rule.computed_keys
        return frozenset(keys)


def _compiled(text: str, variables: frozenset[str]) -> Rule | None:
    try:
        return RULES.compile(text, variables)
    except RuleSyntaxError:
        return None  # saved rules compile; a later release might refuse one: skip it


async def definitions(uow: ProfileUnitOfWork, workspace: str) -> Definitions:
    found = await uow.segments.all_of(workspace)
    model = await uow.life_stage_models.get_model(workspace)
    segments = tuple(
        (s, rule) for s in found if (rule := _compiled(s.rule, SEGMENT_VARIABLES)) is not None
    )
    return Definitions(segments, _stage_rules(model))


def _stage_rules(model: LifeStageModel) -> tuple[tuple[str, Rule], ...]:
    return tuple(
        (stage.stage, rule)
        for stage in model.stages
        if (rule := _compiled(stage.rule, LIFE_STAGE_VARIABLES)) is not None
    )


@dataclass
class Change:
    """Why a customer is re-evaluated: trait keys changed, or everything (new, merged)."""

    keys: set[str] = field(default_factory=set)
    everything: bool = False
    # The customer's computed traits changed: those of ``computed_keys`` (None: any).
    computed: bool = False
    computed_keys: set[str] | None = None

    def of_facts(self, stage_changed: bool) -> FactChange:
        return FactChange(
            self.keys, self.computed, self.computed_keys, stage_changed, self.everything
        )


def reads_computed(books: Definitions, change: Change, stages_read_computed: bool) -> bool:
    """Whether a rule reading computed traits may be evaluated for a customer with this
    change (a stage judged again may change, and with it the segments reading it)."""
    stage_judged = bool(books.stages) and (
        change.everything or bool(change.keys) or (change.computed and stages_read_computed)
    )
    if stage_judged and stages_read_computed:
        return True
    rules = books.index.rules
    return any(
        "computed_traits" in rules[i].variables
        for i in books.index.affected(change.of_facts(stage_judged))
    )


def covers(books: Definitions, change: Change, known: frozenset[str] | None) -> bool:
    """Whether values known of the ``known`` keys (None: all) serve the change's rules."""
    if known is None:
        return True
    wanted = books.computed_keys_read(change)
    return wanted is not None and wanted <= known


def _reads_any(rule: Rule, keys: Collection[str]) -> bool:
    if "computed_traits" not in rule.variables:
        return False
    return rule.computed_keys is None or not rule.computed_keys.isdisjoint(keys)


async def evaluate_again_reading(
    uow: ProfileUnitOfWork, workspace: str, keys: Collection[str], now: datetime
) -> bool:
    """Make the segments and the life stage model whose rules read any of these computed
    trait keys due for an evaluation of every customer now: their values changed for
    many customers at once (a backfill, a renamed or deleted trait), which no ingested
    event re-evaluates. Whether any was; set ``segment_wakeup`` after the commit."""
    if not keys:
        return False
    books = await definitions(uow, workspace)
    segment_ids = [s.segment_id for s, rule in books.segments if _reads_any(rule, keys)]
    stages = any(_reads_any(rule, keys) for _, rule in books.stages)
    # One held by an evaluation under way (until now + the lease at most) is left to it.
    held_until = now + EVALUATION_LEASE
    await uow.schedules.segments_due(workspace, segment_ids, now=now, unless_by=held_until)
    if stages:
        await uow.schedules.life_stage_model_due(workspace, now=now, unless_by=held_until)
    return bool(segment_ids) or stages
