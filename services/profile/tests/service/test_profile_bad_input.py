"""Odd values through the gRPC stub, one class at a time, for every RPC that takes them:
INVALID_ARGUMENT naming the field (never INTERNAL or UNKNOWN), and nothing changes.

In IngestEvents an odd value is one event's problem: that event is REJECTED naming the
field, changes nothing, and the other events of the batch are stored."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.type.v1 import identifier_pb2

from .._profile_support import expect_invalid, expect_rejected

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"
Stub = Any

# Timestamps protobuf carries but google.protobuf.Timestamp does not allow.
BAD_TIMESTAMPS = {
    "before year 1": Timestamp(seconds=-62_135_596_801),
    "after year 9999": Timestamp(seconds=253_402_300_800),
    "int64 max": Timestamp(seconds=2**63 - 1),
    "int64 min": Timestamp(seconds=-(2**63)),
    "negative nanos": Timestamp(seconds=0, nanos=-1),
    "a second of nanos": Timestamp(seconds=0, nanos=1_000_000_000),
    "int32 max nanos": Timestamp(seconds=0, nanos=2**31 - 1),
}

# Resource names no RPC accepts.
ODD_NAMES = [
    "workspaces/",
    "workspaces//customers/c1",
    "workspaces/Default",
    "workspaces/default/",
    "/workspaces/default",
    "workspaces/d\u00e9faut",
    "workspaces/default\x00",
    "workspaces/" + "w" * 129,
    "workspaces/default " + "x" * 100_000,
    "\U0001f600",
]


def nested_structs(levels: int, leaf: Any = 1) -> dict[str, Any]:
    """``levels`` Structs inside one another (the outermost one is the field itself)."""
    value: Any = {"x": leaf}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_lists(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels - 1):
        value = [value]
    return value


async def ingest(stub: Stub, *events: pb.Event, parent: str = PARENT) -> pb.IngestEventsResponse:
    return await stub.IngestEvents(pb.IngestEventsRequest(parent=parent, events=list(events)))


async def nothing_changed(stub: Stub, identity: Any) -> None:
    assert identity[0].requests == []  # refused before identity was asked anything
    page = await stub.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    assert list(page.events) == []


async def only_stored(stub: Stub, identity: Any, *message_ids: str) -> None:
    """Only these events were stored (identity was asked once, for the valid ones)."""
    page = await stub.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    assert sorted(e.message_id for e in page.events) == sorted(message_ids)
    assert len(identity[0].requests) == 1


async def first_signal(stub: Stub, **request: Any) -> None:
    async for _ in stub.WatchSignals(pb.WatchSignalsRequest(**request)):
        break


# -- IngestEvents -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["original_time", "sent_time"])
@pytest.mark.parametrize("stamp", BAD_TIMESTAMPS.values(), ids=BAD_TIMESTAMPS.keys())
async def test_out_of_range_timestamps_are_named(
    profile: Stub, identity: Any, event_factory: Any, field: str, stamp: Timestamp
) -> None:
    odd = event_factory("m-2", **{field: stamp})
    answer = await ingest(profile, event_factory("m-1"), odd)
    expect_rejected(answer, 1, f"events[1].{field}")
    assert answer.results[0].status == pb.INGEST_STATUS_ACCEPTED
    await only_stored(profile, identity, "m-1")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("fields", "path"),
    [
        (lambda n: {"properties": {"price": n}}, "properties.price"),
        (lambda n: {"traits": {"score": n}}, "traits.score"),
        (lambda n: {"context": {"app": {"items": [1, {"w": n}]}}}, "context.app.items[1].w"),
        (lambda n: {"properties": {"odd key!": n}}, "properties.`odd key!`"),
    ],
    ids=["properties", "traits", "nested", "quoted-key"],
)
async def test_nan_and_infinity_in_structs_are_named(
    profile: Stub,
    identity: Any,
    event_factory: Any,
    number: float,
    fields: Any,
    path: str,
) -> None:
    event = event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, user_id="ann", **fields(number))
    expect_rejected(await ingest(profile, event), 0, f"events[0].{path}")
    await nothing_changed(profile, identity)


async def test_structs_nested_deeper_than_32_levels_are_named(
    profile: Stub, identity: Any, event_factory: Any
) -> None:
    too_deep = event_factory("m-1", properties=nested_structs(33))
    expect_rejected(await ingest(profile, too_deep), 0, "events[0].properties" + ".a" * 32)
    lists = event_factory("m-1", type=pb.EVENT_TYPE_IDENTIFY, traits={"l": nested_lists(40)})
    expect_rejected(await ingest(profile, lists), 0, "events[0].traits.l" + "[0]" * 31)
    await nothing_changed(profile, identity)
    # 32 levels are fine, and read back whole.
    deepest = event_factory("m-2", context=nested_structs(32, leaf="bottom"))
    await ingest(profile, deepest)
    [stored] = (await profile.ListEvents(pb.ListEventsRequest(parent=ALL))).events
    node: Any = stored.context
    for _ in range(31):
        node = node["a"]
    assert node["x"] == "bottom"


@pytest.mark.parametrize("number", [99, -1, 2**31 - 1, -(2**31)])
async def test_unknown_event_types_are_named(
    profile: Stub, identity: Any, event_factory: Any, number: int
) -> None:
    odd = event_factory("m-2", type=number)
    expect_rejected(await ingest(profile, event_factory("m-1"), odd), 1, "events[1].type")
    await only_stored(profile, identity, "m-1")


@pytest.mark.parametrize(
    "fields",
    [
        {"event": "E" * 40_000},
        {"user_id": "u" * 40_000},
        {"identifiers": [identifier_pb2.Identifier(type="crm_id", value="v" * 40_000)]},
        {"properties": {"blob": "b" * 40_000}},
        {"message_id": "m" * 40_000},
    ],
    ids=["event", "user_id", "identifier", "property", "message_id"],
)
async def test_huge_strings_make_an_event_too_large(
    profile: Stub, identity: Any, event_factory: Any, fields: dict[str, Any]
) -> None:
    fields = {"message_id": "m-4", **fields}
    huge = event_factory(fields.pop("message_id"), **fields)
    batch = [event_factory(f"m-{i}") for i in range(4)]
    answer = await ingest(profile, *batch[:3], huge, batch[3])
    description = expect_rejected(answer, 3, "events[3]", "EVENT_TOO_LARGE")
    assert "32768" in description
    assert [r.status for r in answer.results] == [pb.INGEST_STATUS_ACCEPTED] * 3 + [
        pb.INGEST_STATUS_REJECTED,
        pb.INGEST_STATUS_ACCEPTED,
    ]
    await only_stored(profile, identity, "m-0", "m-1", "m-2", "m-3")


@pytest.mark.parametrize("parent", ["", "workspaces/default/customers/c1", *ODD_NAMES])
async def test_odd_ingest_parents_are_named(
    profile: Stub, identity: Any, event_factory: Any, parent: str
) -> None:
    await expect_invalid(ingest(profile, event_factory("m-1"), parent=parent), "parent")
    await nothing_changed(profile, identity)


# -- GetProfile, GetEvent -----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "workspaces/default/customers/C1/profile",
        "workspaces/default/customers/c1/profile/",
        "workspaces/default/customers//profile",
        "workspaces/default/customers/-/profile",
        "workspaces/default/customers/c1/profile\x00",
        "workspaces/default/customers/" + "c" * 100_000 + "/profile",
        *ODD_NAMES,
    ],
)
async def test_odd_profile_names_are_named(profile: Stub, name: str) -> None:
    await expect_invalid(profile.GetProfile(pb.GetProfileRequest(name=name)), "name")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "workspaces/default/customers/c1/events",
        "workspaces/default/customers/c1/events/E1",
        "workspaces/default/customers/c1/events/e1/",
        "workspaces/default/customers/c1/events/" + "e" * 100_000,
        "workspaces/default/customers/c\u00e9/events/e1",
        *ODD_NAMES,
    ],
)
async def test_odd_event_names_are_named(profile: Stub, name: str) -> None:
    await expect_invalid(profile.GetEvent(pb.GetEventRequest(name=name)), "name")


# -- ListEvents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "parent",
    ["", "workspaces/default", "workspaces/default/customers/", "workspaces/default/customers/-/"]
    + ODD_NAMES,
)
async def test_odd_list_parents_are_named(profile: Stub, parent: str) -> None:
    await expect_invalid(profile.ListEvents(pb.ListEventsRequest(parent=parent)), "parent")


@pytest.mark.parametrize("size", [-1, -(2**31)])
async def test_negative_page_sizes_are_named(profile: Stub, size: int) -> None:
    await expect_invalid(
        profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=size)), "page_size"
    )


def _readable_token(position: dict[str, Any]) -> str:
    """A token as the deprecated readable format wrote it: no longer accepted."""
    raw = json.dumps({"p": position, "b": "0" * 16}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "\u00e9t\u00e9",
        "t" * 100_000,
        "=" * 8,
        _readable_token({"t": "2024-01-01T00:00:00+00:00", "s": 1}),
    ],
    ids=["garbage", "non-ascii", "huge", "padding", "forged"],
)
async def test_odd_page_tokens_are_named(profile: Stub, event_factory: Any, token: str) -> None:
    await ingest(profile, event_factory("m-1"), event_factory("m-2"))
    await expect_invalid(
        profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_token=token)), "page_token"
    )


async def test_huge_page_sizes_are_clamped(profile: Stub, event_factory: Any) -> None:
    await ingest(profile, event_factory("m-1"), event_factory("m-2"))
    page = await profile.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=2**31 - 1))
    assert len(page.events) == 2 and not page.next_page_token


# -- WatchSignals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "field"),
    [([99], "kinds[0]"), ([1, -5], "kinds[1]"), ([1, 2, 2**31 - 1], "kinds[2]")],
)
async def test_unknown_signal_kinds_are_named(profile: Stub, kinds: list[int], field: str) -> None:
    await expect_invalid(first_signal(profile, parent=PARENT, kinds=kinds), field)


@pytest.mark.parametrize(
    "cursor",
    ["0", "-1", "+1", " 1", "1 ", "1e3", "0x10", "\uff11", "9" * 19, "1" * 25, "7" * 100_000],
)
async def test_odd_start_cursors_are_named(profile: Stub, event_factory: Any, cursor: str) -> None:
    await ingest(profile, event_factory("m-1"))
    await expect_invalid(first_signal(profile, parent=PARENT, start_cursor=cursor), "start_cursor")


@pytest.mark.parametrize("parent", ["", "workspaces/default/customers/c1", *ODD_NAMES])
async def test_odd_watch_parents_are_named(profile: Stub, parent: str) -> None:
    await expect_invalid(first_signal(profile, parent=parent), "parent")
