"""Property: bad events get a per-event reason and change nothing. A batch with bad
events mixed in leaves exactly the state the good events alone leave (events, counters,
traits, signals), each bad event REJECTED with a field under its own index."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.profile.domain.model import EventType, IncomingEvent, IngestStatus
from rapport.profile.service_layer import commands, ingestion

from .test_profile_handlers import make_deps

PARENT = "workspaces/default"
USERS = ("u1", "u2", "u3")

good_events = st.builds(
    lambda kind, user, value: (
        IncomingEvent(type=EventType.IDENTIFY, message_id="", user_id=user, traits={"v": value})
        if kind == "identify"
        else IncomingEvent(type=EventType.TRACK, message_id="", user_id=user, event="Viewed")
    ),
    st.sampled_from(["identify", "track"]),
    st.sampled_from(USERS),
    st.integers(0, 9),
)
bad_events = st.sampled_from(
    [
        IncomingEvent(type=None, message_id="", user_id="u1"),  # no type
        IncomingEvent(type=EventType.TRACK, message_id="", user_id="u1"),  # no event name
        IncomingEvent(type=EventType.TRACK, message_id="", event="Viewed"),  # no identifier
        IncomingEvent(type=EventType.ALIAS, message_id="", user_id="u2"),  # no previous id
        IncomingEvent(type=EventType.GROUP, message_id="", user_id="u2"),  # no group id
        IncomingEvent(  # traits on identify with a NUL key
            type=EventType.IDENTIFY, message_id="", user_id="u3", traits={"a\x00": 1}
        ),
    ]
)
batches = st.lists(st.tuples(st.booleans(), good_events, bad_events), min_size=1, max_size=12)


async def state_of(deps: Any) -> dict[str, Any]:
    """What the store holds, by user (customer ids differ between stores)."""
    async with deps.uow(readonly=True) as uow:
        stored = await uow.profiles.list_events("default", None, before=None, limit=1000)
        signals = await uow.profiles.signals_after("default", 0, (), 1000)
        by_customer = {e.customer_id: e.sent.user_id for e in stored}
        summaries = await uow.traits.summaries_of("default", list(by_customer))
        traits = await uow.traits.of_customers.read("default", list(by_customer))
    return {
        "events": sorted((e.message_id, e.sent.user_id) for e in stored),
        "counts": {by_customer[c]: s.event_count for c, s in summaries.items()},
        "traits": {by_customer[c]: {k: t.value for k, t in ts.items()} for c, ts in traits.items()},
        "signals": [(s.kind, by_customer[s.customer_id]) for s in signals],
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches)
def test_bad_events_are_rejected_alone_and_change_nothing(
    batch: list[tuple[bool, IncomingEvent, IncomingEvent]],
) -> None:
    mixed: list[IncomingEvent] = []
    good_only: list[IncomingEvent] = []
    bad_indexes: set[int] = set()
    for n, (is_bad, good, bad) in enumerate(batch):
        if is_bad:
            bad_indexes.add(len(mixed))
            mixed.append(_with_id(bad, f"bad-{n}"))
        else:
            event = _with_id(good, f"good-{n}")
            mixed.append(event)
            good_only.append(event)

    async def scenario(directory: Path) -> None:
        with_bad, engine_a = await make_deps(directory / "a")
        alone, engine_b = await make_deps(directory / "b")
        try:
            results = await ingestion.ingest_events(commands.IngestEvents(PARENT, mixed), with_bad)
            for i, result in enumerate(results):
                if i in bad_indexes:
                    assert result.status is IngestStatus.REJECTED
                    assert result.rejection is not None and result.rejection.description
                    assert result.rejection.field.startswith(f"events[{i}]")
                    assert not result.customer_id and not result.event_id
                else:
                    assert result.status is IngestStatus.ACCEPTED
            if good_only:
                await ingestion.ingest_events(commands.IngestEvents(PARENT, good_only), alone)
            assert await state_of(with_bad) == await state_of(alone)
        finally:
            await engine_a.dispose()
            await engine_b.dispose()

    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "a").mkdir()
        (Path(directory) / "b").mkdir()
        asyncio.run(scenario(Path(directory)))


def _with_id(event: IncomingEvent, message_id: str) -> IncomingEvent:
    return replace(event, message_id=message_id)
