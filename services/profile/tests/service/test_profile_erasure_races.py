"""An ingest that resolved its event to a customer just before profile erased it (another
replica's follower applied identity's erasure, or EraseProfile came in) never writes to
the erased customer: under the customers' locks it finds the customer's tombstone and
asks identity again, without the identity cache, then writes to the customer identity
names now. Where identity still holds the customer (profile's own erasure: EraseProfile
alone, the inactivity sweep), identity's fresh answer stands and the customer lives on.

On the old code the held event, its traits, counters, computed-trait buckets, segment
memberships and signals were written to the erased customer, after the erasure: the
erased person's data back, for good."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rapport.errors import Aborted, NotFound
from rapport.grpctesting import HeldAfterRead, eventually
from rapport.profile.adapters.identity_changes import ChangeKind, IdentityChange
from rapport.profile.adapters.tables import metadata
from rapport.profile.domain.computed import Kind
from rapport.profile.domain.model import EventType, IncomingEvent, IngestStatus
from rapport.profile.service_layer import (
    batch_write,
    commands,
    computed_traits,
    hygiene,
    ingestion,
    segments,
)
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.identity_cache import IdentityCache
from rapport.profile.service_layer.identity_follow import IdentityFollower
from rapport.profile.service_layer.ordering import ArrivalOrder
from sqlalchemy import func, or_, select

from .._profile_support import InMemoryIdentityClient, OneChange
from .test_profile_handlers import count_events, make_deps, profile_of

PARENT = "workspaces/default"
# Columns that name a customer; the tombstones name erased customers on purpose.
_CUSTOMER_COLUMNS = ("customer_id", "merged_customer_id", "survivor_customer_id")
_TOMBSTONES = "erased_customers"


def order(message_id: str, **fields: Any) -> IncomingEvent:
    return IncomingEvent(
        EventType.TRACK, message_id, user_id="ann", event="Order Completed", **fields
    )


def identify(message_id: str, **traits: Any) -> IncomingEvent:
    return IncomingEvent(EventType.IDENTIFY, message_id, user_id="ann", traits=traits)


async def with_ann(deps: Dependencies, *, cached: bool) -> str:
    """Ann's customer with an event, a trait, a computed trait's bucket and a segment;
    with ``cached``, identity's answer for her is in profile's identity cache."""
    identity = deps.identity
    assert isinstance(identity, InMemoryIdentityClient)
    if cached:
        identity.settles = True
        deps.identity_cache.attach("default")  # as when this replica's follower follows
    await computed_traits.create_computed_trait(
        commands.CreateComputedTrait(PARENT, "orders", Kind.COUNT, 0, "Order Completed", {}, ""),
        deps,
    )
    await segments.create_segment(
        commands.CreateSegment(PARENT, "Pros", 'traits.plan == "pro"', segment_id="pros"), deps
    )
    [first] = await ingest(deps, identify("a1", plan="pro"))
    return str(first.customer_id)


async def ingest(deps: Dependencies, *events: IncomingEvent) -> list[Any]:
    return await ingestion.ingest_events(commands.IngestEvents(PARENT, list(events)), deps)


def other_replica(deps: Dependencies) -> Dependencies:
    """Another profile process on the same database: its own arrival order and cache."""
    return replace(deps, arrival_order=ArrivalOrder(), identity_cache=IdentityCache())


async def erase(deps: Dependencies, customer: str, erased_by: str, *, block: bool = False) -> None:
    """Erase ``customer`` in identity (``block``: its identifiers never linked again),
    then in profile through another replica."""
    identity = deps.identity
    assert isinstance(identity, InMemoryIdentityClient)
    identity.erase(customer, block=block)
    replica = other_replica(deps)
    if erased_by == "EraseProfile":
        await hygiene.erase_profile(
            commands.EraseProfile(f"{PARENT}/customers/{customer}/profile"), replica
        )
        return
    change = IdentityChange("000001", ChangeKind.ERASED, customer)
    follower = IdentityFollower(replica, OneChange(change), min_backoff=0.01)  # type: ignore[arg-type]
    following = asyncio.create_task(follower.run())
    try:
        await eventually(lambda: follower.stats.applied == 1, timeout=10)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


async def rows_naming(deps: Dependencies, customer: str) -> dict[str, int]:
    """Table -> rows that name the customer (the tombstones left out)."""
    found: dict[str, int] = {}
    async with deps.uow(readonly=True) as uow:
        for table in metadata.sorted_tables:
            columns = [table.c[n] for n in _CUSTOMER_COLUMNS if n in table.c]
            if not columns or table.name == _TOMBSTONES:
                continue
            count = await uow.connection.scalar(
                select(func.count())
                .select_from(table)
                .where(or_(*(c == customer for c in columns)))
            )
            if count:
                found[table.name] = int(count)
    return found


async def check_an_erasure_between_resolution_and_write(
    deps: Dependencies,
    monkeypatch: pytest.MonkeyPatch,
    *,
    erased_by: str,
    cached: bool,
    held_at: tuple[Any, str] = (ingestion, "resolve_events"),
) -> None:
    """Ann's next ingest resolves her, is held (after its resolution, or where
    ``held_at`` says), profile erases her meanwhile; the held events then go to the
    customer identity answers now, and nothing names ann's erased customer."""
    ann = await with_ann(deps, cached=cached)
    identity = deps.identity
    assert isinstance(identity, InMemoryIdentityClient)
    asked = identity.calls
    hold = HeldAfterRead(monkeypatch, held_at[0], held_at[1], hold_empty=True)
    ingesting = asyncio.ensure_future(
        ingest(deps, identify("a2", plan="pro", city="Oslo"), order("a3"))
    )
    await asyncio.wait_for(hold.reached.wait(), 10)
    assert (identity.calls == asked) is cached  # a cache hit asks identity nothing
    await erase(deps, ann, erased_by)
    hold.release.set()
    results = await asyncio.wait_for(ingesting, 10)

    assert [r.status for r in results] == [IngestStatus.ACCEPTED] * 2
    reborn = results[0].customer_id
    assert reborn not in ("", ann) and results[1].customer_id == reborn
    # On the old code: events, traits, counters, buckets, memberships and signals of ann.
    assert await rows_naming(deps, ann) == {}
    with pytest.raises(NotFound):
        await profile_of(deps, ann)
    view = await profile_of(deps, reborn)
    assert view.event_count == 2 and view.segment_ids == ("pros",)
    assert {k: t.value for k, t in view.traits.items()} == {"plan": "pro", "city": "Oslo"}


@pytest.mark.parametrize("cached", [False, True], ids=["asked identity", "identity cache"])
@pytest.mark.parametrize("erased_by", ["identity follower", "EraseProfile"])
async def test_an_ingest_resolved_before_an_erasure_writes_to_the_customer_of_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, erased_by: str, cached: bool
) -> None:
    deps, engine = await make_deps(tmp_path)
    try:
        await check_an_erasure_between_resolution_and_write(
            deps, monkeypatch, erased_by=erased_by, cached=cached
        )
    finally:
        await engine.dispose()


async def check_identifiers_blocked_by_the_erasure_are_rejected(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identity erased ann and blocked her identifiers: asked again, it links none of
    them, and the held events are rejected as any such event is."""
    ann = await with_ann(deps, cached=False)
    hold = HeldAfterRead(monkeypatch, ingestion, "resolve_events", hold_empty=True)
    ingesting = asyncio.ensure_future(ingest(deps, identify("a2", city="Oslo"), order("a3")))
    await asyncio.wait_for(hold.reached.wait(), 10)
    await erase(deps, ann, "identity follower", block=True)
    hold.release.set()
    results = await asyncio.wait_for(ingesting, 10)

    assert [r.status for r in results] == [IngestStatus.REJECTED] * 2
    assert [r.rejection.reason for r in results] == ["IDENTIFIER_REFUSED"] * 2
    assert [r.rejection.field for r in results] == ["events[0].user_id", "events[1].user_id"]
    assert await rows_naming(deps, ann) == {}
    assert await count_events(deps) == 0


async def test_identifiers_blocked_by_the_erasure_are_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, engine = await make_deps(tmp_path)
    try:
        await check_identifiers_blocked_by_the_erasure_are_rejected(deps, monkeypatch)
    finally:
        await engine.dispose()


async def test_customers_erased_again_and_again_abort_the_batch_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, engine = await make_deps(tmp_path)
    try:
        ann = await with_ann(deps, cached=False)
        identity = deps.identity
        assert isinstance(identity, InMemoryIdentityClient)
        asked = identity.calls

        async def always_erased(uow: Any, workspace: str, customers: Any, revived: Any) -> Any:
            # An erasure of each customer commits before every write of the batch.
            return dict.fromkeys(customers, deps.clock())

        monkeypatch.setattr(batch_write, "erased_meanwhile", always_erased)
        with pytest.raises(Aborted) as aborted:
            await ingest(deps, order("a2"))
        assert aborted.value.reason == "CONCURRENT_UPDATE"
        assert identity.calls == asked + 3  # resolved, then twice again
        assert (await profile_of(deps, ann)).event_count == 1
        assert await count_events(deps) == 1
    finally:
        await engine.dispose()


async def check_a_customer_identity_still_holds_lives_on(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EraseProfile alone (identity keeps the customer): the held event, re-resolved,
    goes to the same customer, and later events cost identity one call as before."""
    ann = await with_ann(deps, cached=False)
    identity = deps.identity
    assert isinstance(identity, InMemoryIdentityClient)
    hold = HeldAfterRead(monkeypatch, ingestion, "resolve_events", hold_empty=True)
    ingesting = asyncio.ensure_future(ingest(deps, order("a2")))
    await asyncio.wait_for(hold.reached.wait(), 10)
    await hygiene.erase_profile(
        commands.EraseProfile(f"{PARENT}/customers/{ann}/profile"), other_replica(deps)
    )
    hold.release.set()
    [held] = await asyncio.wait_for(ingesting, 10)
    assert held.status is IngestStatus.ACCEPTED and held.customer_id == ann

    asked = identity.calls
    [later] = await ingest(deps, order("a3"))
    assert later.customer_id == ann and identity.calls == asked + 1
    view = await profile_of(deps, ann)
    assert view.event_count == 2 and not view.traits and view.segment_ids == ()


async def test_a_customer_identity_still_holds_lives_on_after_erase_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, engine = await make_deps(tmp_path)
    try:
        await check_a_customer_identity_still_holds_lives_on(deps, monkeypatch)
    finally:
        await engine.dispose()
