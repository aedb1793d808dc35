"""Segments and life stage models: what is saved, checked before anything is written."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rapport.errors import InvalidArgument

from .rules import LIFE_STAGE_VARIABLES, SEGMENT_VARIABLES, Rule, RuleCompiler, RuleSyntaxError

RESOURCE_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
STAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
MAX_DISPLAY_NAME = 200
MAX_STAGES = 50


@dataclass(frozen=True)
class Segment:
    workspace: str
    segment_id: str
    display_name: str
    rule: str
    time_dependent: bool
    create_time: datetime
    last_evaluation_time: datetime | None = None
    next_evaluation_time: datetime | None = None
    member_count: int = 0


@dataclass(frozen=True)
class LifeStage:
    stage: str
    rule: str


@dataclass(frozen=True)
class LifeStageModel:
    workspace: str
    stages: tuple[LifeStage, ...] = ()
    update_time: datetime | None = None
    last_evaluation_time: datetime | None = None
    next_evaluation_time: datetime | None = None


def check_resource_id(value: str, field: str) -> None:
    if not RESOURCE_ID.fullmatch(value):
        raise InvalidArgument(field, "must match [a-z][a-z0-9-]{0,62}")


def check_display_name(value: str, field: str) -> None:
    if len(value) > MAX_DISPLAY_NAME:
        raise InvalidArgument(field, f"must be at most {MAX_DISPLAY_NAME} characters")


def compile_rule(
    compiler: RuleCompiler, text: str, field: str, *, life_stage: bool = False
) -> Rule:
    """The compiled rule, or InvalidArgument naming the field, line and column."""
    try:
        return compiler.compile(text, LIFE_STAGE_VARIABLES if life_stage else SEGMENT_VARIABLES)
    except RuleSyntaxError as err:
        raise InvalidArgument(field, f"the rule does not compile: {err}") from None


def check_stages(compiler: RuleCompiler, stages: Sequence[LifeStage], field: str) -> None:
    if len(stages) > MAX_STAGES:
        raise InvalidArgument(field, f"at most {MAX_STAGES} stages")
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        path = f"{field}[{i}]"
        if not STAGE_NAME.fullmatch(stage.stage):
            raise InvalidArgument(f"{path}.stage", "must match [A-Za-z0-9_-]{1,63}")
        if stage.stage in seen:
            raise InvalidArgument(f"{path}.stage", "is already a stage of the model")
        seen.add(stage.stage)
        compile_rule(compiler, stage.rule, f"{path}.rule", life_stage=True)


def first_stage(rules: Sequence[tuple[str, Rule]], matches: Callable[[Rule], bool]) -> str:
    """The name of the first stage whose rule matches; empty for none."""
    for stage, rule in rules:
        if matches(rule):
            return stage
    return ""
