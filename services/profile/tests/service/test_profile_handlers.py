"""Service layer with SQLite and the in-memory identity fake (no gRPC)."""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.commitwatch import CommitNotifier
from rapport.errors import Aborted, Unavailable
from rapport.pagination import PageTokens
from rapport.profile.adapters.repository import ProfileRepository
from rapport.profile.bootstrap import MIGRATIONS_DIR
from rapport.profile.domain.model import EventType, IncomingEvent, IngestStatus
from rapport.profile.service_layer import commands, ingestion, queries, signals
from rapport.profile.service_layer.dependencies import Dependencies
from rapport.profile.service_layer.unit_of_work import unit_of_work_factory
from rapport.sqlstore import TransientConflict, create_engine, migrate

from .._profile_support import DomainEncoder, InMemoryIdentityClient, decoded_view

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"


async def make_deps(directory: Path) -> tuple[Dependencies, Any]:
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'profile.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    deps = Dependencies(
        uow=unit_of_work_factory(engine),
        identity=InMemoryIdentityClient(),
        notifier=CommitNotifier(),
        workspaces=("default",),
        page_tokens=PageTokens(None),
        encoder=DomainEncoder(),
    )
    return deps, engine


@pytest.fixture
async def deps(tmp_path: Path) -> AsyncIterator[Dependencies]:
    deps, engine = await make_deps(tmp_path)
    yield deps
    await engine.dispose()


def identify(message_id: str, **fields: Any) -> IncomingEvent:
    return IncomingEvent(type=EventType.IDENTIFY, message_id=message_id, **fields)


async def ingest(deps: Dependencies, *events: IncomingEvent) -> list[Any]:
    return await ingestion.ingest_events(commands.IngestEvents(PARENT, list(events)), deps)


async def count_events(deps: Dependencies) -> int:
    async with deps.uow(readonly=True) as uow:
        return await uow.profiles.count_events("default")


async def profile_of(deps: Dependencies, customer_id: str) -> Any:
    name = f"workspaces/default/customers/{customer_id}/profile"
    return decoded_view(await queries.get_profile(commands.GetProfile(name), deps))


batches = st.lists(
    st.lists(
        st.tuples(st.sampled_from([f"m{i}" for i in range(8)]), st.sampled_from(["u1", "u2"])),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches, replays=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_replayed_batches_store_each_message_once(
    batches: list[list[tuple[str, str]]], replays: int, seed: int
) -> None:
    order = [batch for batch in batches for _ in range(replays)]
    random.Random(seed).shuffle(order)

    async def scenario(directory: Path) -> None:
        deps, engine = await make_deps(directory)
        try:
            accepted: dict[str, str] = {}
            answers: list[tuple[str, Any]] = []
            for batch in order:
                results = await ingest(
                    deps, *(identify(message_id, user_id=user) for message_id, user in batch)
                )
                assert [r.message_id for r in results] == [m for m, _ in batch]
                for result in results:
                    assert result.status in (IngestStatus.ACCEPTED, IngestStatus.DUPLICATE)
                    if result.status is IngestStatus.ACCEPTED:
                        assert result.message_id not in accepted  # accepted once, ever
                        accepted[result.message_id] = result.customer_id
                    answers.append((result.message_id, result))
            distinct = {m for batch in batches for m, _ in batch}
            assert set(accepted) == distinct
            assert await count_events(deps) == len(distinct)
            # Every acknowledgement names the customer the stored event belongs to.
            for message_id, result in answers:
                assert result.customer_id == accepted[message_id]
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(scenario(Path(directory)))


async def test_a_concurrent_insert_of_the_same_message_is_a_duplicate(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = await ingest(deps, identify("m1", user_id="ann"))
    original = ProfileRepository.stored_customers
    calls = {"n": 0}

    async def blind_first_check(self: Any, workspace: str, message_ids: Any) -> dict[str, str]:
        # As if another ingest committed m1 between our duplicate check and our insert.
        calls["n"] += 1
        return {} if calls["n"] == 1 else await original(self, workspace, message_ids)

    monkeypatch.setattr(ProfileRepository, "stored_customers", blind_first_check)
    [again] = await ingest(deps, identify("m1", user_id="bob", traits={"plan": "x"}))
    assert again.status is IngestStatus.DUPLICATE
    assert again.customer_id == first.customer_id
    assert await count_events(deps) == 1
    async with deps.uow(readonly=True) as uow:
        signals = await uow.profiles.signals_after("default", 0, (), 100)
    assert [s.kind for s in signals] == ["event_seen"]  # nothing for the duplicate


async def test_merges_within_one_batch_end_with_one_customer(
    deps: Dependencies,
) -> None:
    results = await ingest(
        deps,
        identify("e1", traits={"email": "a@example.com", "plan": "free"}),
        identify("e2", user_id="u", traits={"city": "Oslo"}),
        identify("e3", anonymous_id="x"),
        identify("e4", user_id="u", traits={"email": "A@example.com"}),
        identify("e5", user_id="u", anonymous_id="x"),
    )
    customers = {r.customer_id for r in results}
    assert len(customers) == 1
    [survivor] = customers
    view = await profile_of(deps, survivor)
    assert view.event_count == 5
    assert {k: t.value for k, t in view.traits.items()} == {
        "email": "A@example.com",
        "plan": "free",
        "city": "Oslo",
    }


async def test_merge_chains_across_batches_are_followed(deps: Dependencies) -> None:
    # The oldest customer survives: c, then b, then a are created.
    [c] = await ingest(deps, identify("c1", traits={"email": "c@example.com"}))
    [b] = await ingest(deps, identify("b1", user_id="b", traits={"k": "b"}))
    [a] = await ingest(deps, identify("a1", anonymous_id="a", traits={"k": "a"}))
    [ab] = await ingest(deps, identify("ab", anonymous_id="a", user_id="b"))  # a -> b
    assert ab.customer_id == b.customer_id
    [bc] = await ingest(deps, identify("bc", user_id="b", traits={"email": "c@example.com"}))
    survivor = c.customer_id  # b -> c, so a -> c too
    assert bc.customer_id == survivor
    for customer in (a.customer_id, b.customer_id, c.customer_id):
        view = await profile_of(deps, customer)
        assert view.customer_id == survivor
        assert view.event_count == 5
        assert view.traits["k"].value == "a"  # the latest write
    page = await queries.list_events(
        commands.ListEvents(f"workspaces/default/customers/{a.customer_id}"), deps
    )
    assert {e.customer_id for e in page.events} == {survivor}
    assert len(page.events) == 5


async def test_identity_unavailable_stores_nothing(deps: Dependencies) -> None:
    assert isinstance(deps.identity, InMemoryIdentityClient)
    deps.identity.unavailable = True
    with pytest.raises(Unavailable):
        await ingest(deps, identify("m1", user_id="ann"))
    assert await count_events(deps) == 0


async def test_identity_refusal_maps_to_the_source_field(deps: Dependencies) -> None:
    # Was a whole-batch refusal: now the refused event alone is rejected.
    results = await ingest(
        deps,
        identify("m1", user_id="ann"),
        identify("m1", user_id="ann"),  # a duplicate: not sent to identity
        identify("m2", user_id="bob", traits={"phone": "call me"}),
    )
    rejection = results[2].rejection
    assert rejection is not None and rejection.field == "events[2].traits.phone"
    assert [r.status for r in results] == [
        IngestStatus.ACCEPTED,
        IngestStatus.DUPLICATE,
        IngestStatus.REJECTED,
    ]
    assert await count_events(deps) == 1


async def test_signals_follow_commits(deps: Dependencies) -> None:
    stream = await signals.watch_signals(commands.WatchSignals(PARENT), deps)
    received: list[Any] = []

    async def consume() -> None:
        async for signal in stream:
            received.append(signal)
            if len(received) == 2:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await ingest(deps, identify("m1", user_id="ann", traits={"plan": "pro"}))
    await asyncio.wait_for(task, 2)
    assert [s.signal.kind.value for s in received] == ["event_seen", "trait_changed"]


async def test_a_write_that_lost_a_race_is_redone_whole(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ProfileRepository.lock_signal_log
    attempts = {"n": 0}

    async def lose_the_first_race(self: Any) -> None:
        # As if the database aborted the first attempt after its events were inserted.
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise TransientConflict("DEADLOCK")
        await original(self)

    monkeypatch.setattr(ProfileRepository, "lock_signal_log", lose_the_first_race)
    [result] = await ingest(deps, identify("m1", user_id="ann", traits={"plan": "pro"}))
    assert attempts["n"] == 2
    assert result.status is IngestStatus.ACCEPTED
    assert await count_events(deps) == 1
    async with deps.uow(readonly=True) as uow:
        logged = await uow.profiles.signals_after("default", 0, (), 100)
    assert [s.kind for s in logged] == ["event_seen", "trait_changed"]


async def test_a_write_that_keeps_losing_is_aborted_and_stores_nothing(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def always_lose(self: Any) -> None:
        raise TransientConflict("DEADLOCK")

    monkeypatch.setattr(ProfileRepository, "lock_signal_log", always_lose)
    with pytest.raises(Aborted) as caught:
        await ingest(deps, identify("m1", user_id="ann", traits={"plan": "pro"}))
    assert caught.value.reason == "CONCURRENT_UPDATE"
    assert await count_events(deps) == 0


async def test_list_events_pages_in_bytes_through_the_encoder(deps: Dependencies) -> None:
    await ingest(deps, *(identify(f"m{i}", user_id="ann") for i in range(6)))
    size = DomainEncoder().size(
        (await queries.list_events(commands.ListEvents(ALL, 1), deps)).events[0]
    )
    small = replace(deps, list_page_max_bytes=1024 + 2 * size + size // 2)
    token, pages = "", []
    while True:
        page = await queries.list_events(commands.ListEvents(ALL, page_token=token), small)
        pages.append([e.message_id for e in page.events])
        if not (token := page.next_page_token):
            break
    assert [len(p) for p in pages] == [2, 2, 2]
    assert sorted(m for p in pages for m in p) == [f"m{i}" for i in range(6)]
