"""Ingestion values only the computed traits the rules it judges for a customer read
(the rules its change affects): a rule naming two computed traits still gets both when
one changes, a customer rules have not seen gets every one, and memberships stay what
a full evaluation gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, IncomingEvent
from rapport.profile.domain.segments import LifeStage
from rapport.profile.service_layer import (
    audiences,
    commands,
    computed_traits,
    ingestion,
    life_stages,
    segments,
)
from rapport.profile.service_layer.dependencies import Dependencies

from .test_profile_handlers import make_deps

PARENT = "workspaces/default"
SEGMENTS = {
    "both": "computed_traits.orders > 0 && computed_traits.views > 1",
    "ordered": "has(computed_traits.orders) && computed_traits.orders > 0",
    "spender": "has(computed_traits.spent) && computed_traits.spent >= 10.0",
}


@pytest.fixture
async def deps(tmp_path: Path) -> AsyncIterator[Dependencies]:
    deps, engine = await make_deps(tmp_path)
    for key, kind, event, prop in (
        ("orders", Kind.COUNT, "Order Completed", ""),
        ("views", Kind.COUNT, "Product Viewed", ""),
        ("spent", Kind.SUM, "Order Completed", "price"),
    ):
        await computed_traits.create_computed_trait(
            commands.CreateComputedTrait(PARENT, key, kind, 0, event, {}, prop), deps
        )
    yield deps
    await engine.dispose()


async def make_segments(deps: Dependencies) -> None:
    for segment_id, rule in SEGMENTS.items():
        await segments.create_segment(commands.CreateSegment(PARENT, "", rule, segment_id), deps)


def track(message_id: str, user: str, name: str, price: float = 5.0) -> IncomingEvent:
    return IncomingEvent(
        type=EventType.TRACK,
        message_id=message_id,
        user_id=user,
        event=name,
        properties={"price": price},
    )


async def ingest(deps: Dependencies, *events: IncomingEvent) -> None:
    results = await ingestion.ingest_events(commands.IngestEvents(PARENT, events), deps)
    assert all(r.rejection is None for r in results)


async def members(deps: Dependencies) -> dict[str, set[str]]:
    async with deps.uow(readonly=True) as uow:
        customers = await uow.segments.customers_after("default", None, 100)
        held = await uow.segments.memberships_of("default", customers)
    return {name: {c for c in customers if name in held[c]} for name in SEGMENTS}


async def full_evaluation(deps: Dependencies) -> dict[str, set[str]]:
    async with deps.uow() as uow:
        customers = await uow.segments.customers_after("default", None, 100)
        await uow.segments.forget_customers("default", customers)
        await audiences.apply_changes(
            uow, "default", deps.clock(), {c: audiences.Change(everything=True) for c in customers}
        )
        await uow.commit()
    return await members(deps)


async def test_a_rule_naming_two_computed_traits_gets_both_when_one_changes(
    deps: Dependencies,
) -> None:
    await make_segments(deps)
    await ingest(deps, track("o1", "ann", "Order Completed"), track("v1", "ann", "Product Viewed"))
    found = await members(deps)
    [ann] = found["ordered"]
    assert found == {"both": set(), "ordered": {ann}, "spender": set()}
    # Views alone change: "both" reads orders too (not changed by this batch).
    await ingest(deps, track("v2", "ann", "Product Viewed"))
    assert await members(deps) == {"both": {ann}, "ordered": {ann}, "spender": set()}
    await ingest(deps, track("o2", "ann", "Order Completed", price=7.5))
    assert await members(deps) == {"both": {ann}, "ordered": {ann}, "spender": {ann}}
    assert await full_evaluation(deps) == await members(deps)


async def test_a_customer_rules_have_not_seen_gets_every_computed_trait(
    deps: Dependencies,
) -> None:
    # Orders and spending counted before any segment: no state for ann yet.
    await ingest(deps, track("o1", "ann", "Order Completed", price=12.0))
    await make_segments(deps)
    # A view alone: every segment is judged for ann (rules have not seen her), with the
    # orders and spending this batch did not change.
    await ingest(deps, track("v1", "ann", "Product Viewed"))
    found = await members(deps)
    [ann] = found["ordered"]
    assert found == {"both": set(), "ordered": {ann}, "spender": {ann}}
    await ingest(deps, track("v2", "ann", "Product Viewed"))
    assert await members(deps) == {"both": {ann}, "ordered": {ann}, "spender": {ann}}
    assert await full_evaluation(deps) == await members(deps)


async def test_memberships_of_many_batches_match_a_full_evaluation(deps: Dependencies) -> None:
    await make_segments(deps)
    names = ["Order Completed", "Product Viewed", "Signed In"]
    for n in range(30):
        batch = [
            track(f"m{n}-{k}", f"user-{(n + k) % 7}", names[(n * k + k) % 3], price=float(n % 4))
            for k in range(5)
        ]
        await ingest(deps, *batch)
    incremental = await members(deps)
    assert all(incremental.values())
    assert await full_evaluation(deps) == incremental


async def test_a_stage_reading_computed_traits_and_segments_reading_the_stage(
    deps: Dependencies,
) -> None:
    # No segment reads views: the stage's rule alone does.
    await segments.create_segment(
        commands.CreateSegment(PARENT, "", 'life_stage == "buyer"', "buyers"), deps
    )
    await life_stages.update_life_stage_model(
        commands.UpdateLifeStageModel(
            "workspaces/default/lifeStageModel",
            [LifeStage("buyer", "computed_traits.spent >= 10.0 && computed_traits.views > 0")],
        ),
        deps,
    )
    await ingest(deps, track("v1", "ann", "Product Viewed"))
    await ingest(deps, track("o1", "ann", "Order Completed", price=6.0))
    async with deps.uow(readonly=True) as uow:
        customers = await uow.segments.customers_after("default", None, 100)
        assert await uow.segments.states_of("default", customers) == {customers[0]: ""}
    # Spending alone changes: the stage reads views too, and "buyers" the new stage.
    await ingest(deps, track("o2", "ann", "Order Completed", price=6.0))
    async with deps.uow(readonly=True) as uow:
        [ann] = customers
        assert await uow.segments.states_of("default", [ann]) == {ann: "buyer"}
        held = await uow.segments.memberships_of("default", [ann])
    assert held == {ann: {"buyers"}}
