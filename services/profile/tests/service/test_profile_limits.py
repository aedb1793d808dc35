"""Size limits: Segment's per-event and per-batch limits on IngestEvents (settings), and
ListEvents pages bounded in bytes as well as by count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.profile.settings import ProfileSettings
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import to_timestamp

from .._profile_support import expect_invalid, expect_rejected

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"
KIB = 1024
Stub = Any


def sized(event_factory: Any, message_id: str, size: int, **fields: Any) -> pb.Event:
    """An event whose serialized size is exactly ``size`` bytes: padded in properties,
    then to the byte in user_id (whose length stays below 128: one byte a character)."""
    base = event_factory(message_id, properties={"pad": ""}, **fields).ByteSize()
    event = event_factory(message_id, properties={"pad": "p" * (size - base - 100)}, **fields)
    event.user_id += "u" * (size - event.ByteSize())
    assert event.ByteSize() == size and len(event.user_id) < 128
    return event


def at(minute: int) -> Timestamp:
    return to_timestamp(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minute))


async def ingest(stub: Stub, *events: pb.Event) -> pb.IngestEventsResponse:
    return await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))


async def stored_ids(stub: Stub) -> list[str]:
    page = await stub.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    return sorted(e.message_id for e in page.events)


def test_the_limits_are_settings_with_segments_defaults() -> None:
    settings = ProfileSettings()
    assert (settings.max_event_bytes, settings.max_batch_bytes) == (32 * KIB, 500 * KIB)
    assert settings.max_struct_depth == 32
    assert settings.list_page_max_bytes == 1024 * KIB < settings.max_message_bytes
    with pytest.raises(ValueError, match="list_page_max_bytes"):
        ProfileSettings(list_page_max_bytes=4 * 1024 * KIB)
    with pytest.raises(ValueError, match="max_struct_depth"):
        ProfileSettings(max_struct_depth=33)


async def test_an_event_may_be_32_kib_and_not_a_byte_more(
    profile: Stub, identity: Any, event_factory: Any
) -> None:
    # Over the limit: that event alone is rejected (it used to refuse the batch).
    small = [event_factory(f"m-{i}") for i in range(3)]
    too_large = sized(event_factory, "m-3", 32 * KIB + 1)
    answer = await ingest(profile, *small, too_large)
    description = expect_rejected(answer, 3, "events[3]", "EVENT_TOO_LARGE")
    assert f"{32 * KIB + 1} bytes" in description
    assert await stored_ids(profile) == ["m-0", "m-1", "m-2"]

    largest = sized(event_factory, "m-3", 32 * KIB)
    await ingest(profile, *small, largest)
    assert await stored_ids(profile) == ["m-0", "m-1", "m-2", "m-3"]


async def test_a_batch_may_be_500_kib(profile: Stub, identity: Any, event_factory: Any) -> None:
    # Each event is within its limit; together they are not.
    events = [sized(event_factory, f"m-{i:02}", 32_000) for i in range(16)]
    request = pb.IngestEventsRequest(parent=PARENT, events=events)
    assert request.ByteSize() > 500 * KIB
    description = await expect_invalid(profile.IngestEvents(request), "events")
    assert str(500 * KIB) in description
    assert identity[0].requests == [] and await stored_ids(profile) == []

    accepted = await ingest(profile, *events[:15])
    assert len(accepted.results) == 15
    assert len(await stored_ids(profile)) == 15


async def test_the_limits_follow_the_settings(
    profile_server: Any, identity: Any, event_factory: Any
) -> None:
    limits = {"max_event_bytes": 1000, "max_batch_bytes": 2500, "max_struct_depth": 3}
    async with profile_server(**limits) as (stub, _):
        answer = await ingest(stub, sized(event_factory, "m-1", 1001))
        expect_rejected(answer, 0, "events[0]", "EVENT_TOO_LARGE")
        batch = [sized(event_factory, f"m-{i}", 900) for i in range(3)]
        await expect_invalid(ingest(stub, *batch), "events")
        deep = event_factory("m-1", properties={"a": {"b": {"c": {"d": 1}}}})
        expect_rejected(await ingest(stub, deep), 0, "events[0].properties.a.b.c")
        assert identity[0].requests == [] and await stored_ids(stub) == []
        await ingest(stub, sized(event_factory, "m-9", 1000), batch[1])
        assert await stored_ids(stub) == ["m-1", "m-9"]


# -- ListEvents pages in bytes ------------------------------------------------------


async def walk(stub: Stub, page_size: int) -> list[pb.ListEventsResponse]:
    pages: list[pb.ListEventsResponse] = []
    token = ""
    while True:
        page = await stub.ListEvents(
            pb.ListEventsRequest(parent=ALL, page_size=page_size, page_token=token)
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages


async def test_a_page_ends_before_the_response_exceeds_the_byte_budget(
    profile_server: Any, event_factory: Any
) -> None:
    budget = 60_000
    async with profile_server(list_page_max_bytes=budget) as (stub, _):
        # 22 events of about 10 KB each: five fit in a page.
        events = [sized(event_factory, f"m-{i:02}", 10_000, original_time=at(i)) for i in range(22)]
        await ingest(stub, *events[:11])
        await ingest(stub, *events[11:])
        pages = await walk(stub, page_size=100)

    assert [len(p.events) for p in pages] == [5, 5, 5, 5, 2]
    assert all(p.ByteSize() <= budget for p in pages)
    # A sixth event would not have fitted.
    assert all(p.ByteSize() + 10_003 > budget - 1024 for p in pages[:-1])
    # The token continues exactly where the page stopped: every event once, newest first.
    listed = [e.message_id for p in pages for e in p.events]
    assert listed == [f"m-{i:02}" for i in reversed(range(22))]


async def test_a_page_holds_at_least_one_event_however_large(
    profile_server: Any, event_factory: Any
) -> None:
    async with profile_server(list_page_max_bytes=5_000) as (stub, _):
        events = [sized(event_factory, f"m-{i}", 20_000, original_time=at(i)) for i in range(3)]
        await ingest(stub, *events)
        pages = await walk(stub, page_size=50)
    assert [len(p.events) for p in pages] == [1, 1, 1]
    assert [p.events[0].message_id for p in pages] == ["m-2", "m-1", "m-0"]


async def test_page_size_still_caps_pages_within_the_budget(
    profile_server: Any, event_factory: Any
) -> None:
    async with profile_server(list_page_max_bytes=60_000) as (stub, _):
        await ingest(stub, *[event_factory(f"m-{i}", original_time=at(i)) for i in range(7)])
        pages = await walk(stub, page_size=3)
    assert [len(p.events) for p in pages] == [3, 3, 1]
    assert [e.message_id for p in pages for e in p.events] == [f"m-{i}" for i in range(6, -1, -1)]
