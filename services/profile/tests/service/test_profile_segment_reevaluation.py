"""Ingestion re-evaluates only the segments a batch's changes can affect: a segment
naming computed trait X when X's buckets change, one naming trait Y when Y changes,
ones reading a map whole on any change of it; memberships stay what a full
re-evaluation gives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.domain.rules import Evaluator, Facts, Rule
from rapport.profile.service_layer import audiences, commands, computed_traits, ingestion, segments
from rapport.profile.service_layer.dependencies import Dependencies

from .test_profile_handlers import make_deps

PARENT = "workspaces/default"
SEGMENTS = {
    "ordered": "has(computed_traits.orders) && computed_traits.orders > 0",
    "viewed": "has(computed_traits.views) && computed_traits.views > 1",
    "pro": 'traits.plan == "pro"',
    "counted": "size(computed_traits) > 1",
    "soon": "days_until(traits.renewal) <= 30",
}


class CountingEvaluator(Evaluator):
    """Records the rule text of every evaluation."""

    judged: list[str] = []

    def judge(self, facts: Facts, variables: Any = None) -> Callable[[Rule], bool]:
        inner = super().judge(facts) if variables is None else super().judge(facts, variables)

        def matches(rule: Rule) -> bool:
            CountingEvaluator.judged.append(rule.text)
            return inner(rule)

        return matches


@pytest.fixture
async def deps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Dependencies]:
    deps, engine = await make_deps(tmp_path)
    for key, event in (("orders", "Order Completed"), ("views", "Product Viewed")):
        await computed_traits.create_computed_trait(
            commands.CreateComputedTrait(PARENT, key, Kind.COUNT, 0, event, {}, ""), deps
        )
    for segment_id, rule in SEGMENTS.items():
        await segments.create_segment(commands.CreateSegment(PARENT, "", rule, segment_id), deps)
    monkeypatch.setattr(audiences, "Evaluator", CountingEvaluator)
    CountingEvaluator.judged = []
    yield deps
    await engine.dispose()


def track(message_id: str, user: str, name: str) -> IncomingEvent:
    return IncomingEvent(type=EventType.TRACK, message_id=message_id, user_id=user, event=name)


def identify(message_id: str, user: str, **traits: Any) -> IncomingEvent:
    return IncomingEvent(
        type=EventType.IDENTIFY, message_id=message_id, user_id=user, traits=traits
    )


async def judged_by(deps: Dependencies, *events: IncomingEvent) -> list[str]:
    CountingEvaluator.judged = []
    results = await ingestion.ingest_events(commands.IngestEvents(PARENT, events), deps)
    assert all(r.rejection is None for r in results)
    return [name for name, rule in SEGMENTS.items() if rule in CountingEvaluator.judged]


async def members(deps: Dependencies) -> dict[str, set[str]]:
    async with deps.uow(readonly=True) as uow:
        customers = await uow.segments.customers_after("default", None, 100)
        held = await uow.segments.memberships_of("default", customers)
    return {name: {c for c in customers if name in held[c]} for name in SEGMENTS}


async def test_only_segments_reading_what_changed_are_re_evaluated(deps: Dependencies) -> None:
    # A customer rules have not seen: every segment.
    assert await judged_by(deps, identify("m1", "ann", plan="free")) == list(SEGMENTS)
    # Views changed: the segment naming views and the one reading every computed trait.
    assert await judged_by(deps, track("m2", "ann", "Product Viewed")) == ["viewed", "counted"]
    assert await judged_by(deps, track("m3", "ann", "Order Completed")) == ["ordered", "counted"]
    # An event no computed trait counts, and no trait: nothing.
    assert await judged_by(deps, track("m4", "ann", "Signed In")) == []
    # A trait: the segments naming it only (time-dependent ones included when named).
    assert await judged_by(deps, identify("m5", "ann", plan="pro")) == ["pro"]
    assert await judged_by(deps, identify("m6", "ann", renewal="2020-01-01")) == ["soon"]
    assert await judged_by(deps, track("m7", "ann", "Product Viewed")) == ["viewed", "counted"]
    [ann] = {c for held in (await members(deps)).values() for c in held}
    assert await members(deps) == {
        "ordered": {ann},
        "viewed": {ann},
        "pro": {ann},
        "counted": {ann},
        "soon": {ann},
    }


async def test_memberships_match_a_full_evaluation(deps: Dependencies) -> None:
    batch = [
        identify("i1", "bob", plan="pro"),
        track("t1", "bob", "Product Viewed"),
        track("t2", "cy", "Order Completed"),
        track("t3", "bob", "Product Viewed"),
        identify("i2", "cy", plan="free", renewal="2099-01-01"),
        track("t4", "cy", "Product Viewed"),
    ]
    for event in batch:
        await ingestion.ingest_events(commands.IngestEvents(PARENT, [event]), deps)
    incremental = await members(deps)
    # Every segment for every customer, from scratch.
    async with deps.uow() as uow:
        customers = await uow.segments.customers_after("default", None, 100)
        await uow.segments.forget_customers("default", customers)
        await audiences.apply_changes(
            uow,
            "default",
            deps.clock(),
            {c: audiences.Change(everything=True) for c in customers},
        )
        await uow.commit()
    assert await members(deps) == incremental
    assert incremental["viewed"] and incremental["ordered"] and incremental["pro"]
