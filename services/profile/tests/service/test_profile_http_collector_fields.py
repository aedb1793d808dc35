"""The Segment-compatible collector speaks the sender's language: rejections name the
JSON fields as sent (``batch[3].properties.price``, ``userId``), a value that cannot be
stored is named by its exact path, a page's or screen's category is kept, and an event
dated in the future (after clock-skew correction) is refused, naming its time field."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.protobuf import struct_pb2
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import timestamp_to_datetime, to_timestamp
from segment.analytics import Client

from .._profile_support import expect_rejected

WRITE_KEY = "wk-fields"
PARENT = "workspaces/default"
LOGGER = "rapport.profile.entrypoints.http_collector"
Stub = Any


@pytest.fixture
async def collector(profile_server: Any) -> Any:
    async with profile_server(write_keys={WRITE_KEY: "default"}) as (stub, running):
        yield stub, f"http://{running.http_address}"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def events_of(stub: Stub) -> dict[str, pb.Event]:
    page = await stub.ListEvents(
        pb.ListEventsRequest(parent=f"{PARENT}/customers/-", page_size=500)
    )
    return {e.message_id: e for e in page.events}


async def post_batch(host: str, batch: list[dict[str, Any]]) -> httpx.Response:
    # json.dumps writes NaN as Segment's Python library does (not JSON, but sent).
    body = json.dumps({"batch": batch}).encode()
    async with httpx.AsyncClient(base_url=host, auth=(WRITE_KEY, ""), timeout=10) as http:
        return await http.post("/v1/batch", content=body)


def logged_fields(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """message id -> field, from the collector's warnings."""
    return {
        rejection["message_id"]: rejection["field"]
        for record in caplog.records
        if record.getMessage() == "collector events rejected"
        for rejection in record.rejections  # type: ignore[attr-defined]
    }


def order_schema() -> struct_pb2.Struct:
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "properties": {"price": {"type": "number"}}})
    return schema


async def test_batch_rejections_are_logged_with_the_senders_field_names(
    collector: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stub, host = collector
    await stub.CreateTrackingPlan(
        pb.CreateTrackingPlanRequest(
            parent=PARENT,
            tracking_plan_id="shop",
            tracking_plan=pb.TrackingPlan(
                display_name="Shop",
                enforcement=pb.TRACKING_PLAN_ENFORCEMENT_BLOCK,
                event_schemas={"Order Completed": order_schema()},
            ),
        )
    )
    caplog.set_level("INFO", logger=LOGGER)
    future = iso(datetime.now(UTC) + timedelta(days=3))
    first = [
        {
            "type": "track",
            "userId": "f1",
            "event": "Order Completed",
            "properties": {"price": 1},
            "messageId": "ok",
        },
        {"type": "track", "userId": "f1", "messageId": "no-name"},
        {"type": "page", "userId": "f1", "name": "Ho\u0000me", "messageId": "nul-name"},
        {
            "type": "track",
            "userId": "f1",
            "event": "Order Completed",
            "properties": {"price": "cheap"},
            "messageId": "plan",
        },
        {"type": "alias", "userId": "f1", "messageId": "no-previous"},
    ]
    second = [
        {"type": "group", "userId": "f1", "messageId": "no-group"},
        {"type": "track", "userId": "f1", "event": "E", "timestamp": future, "messageId": "ts"},
        {
            "type": "track",
            "userId": "f1",
            "event": "E",
            "originalTimestamp": future,
            "sentAt": iso(datetime.now(UTC)),
            "messageId": "original",
        },
        {"type": "identify", "userId": "f1", "traits": {"score": float("nan")}, "messageId": "n"},
    ]
    for batch in (first, second):
        assert (await post_batch(host, batch)).status_code == 200
    assert logged_fields(caplog) == {
        "no-name": "batch[1].event",
        "nul-name": "batch[2].name",
        "plan": "batch[3].properties.price",
        "no-previous": "batch[4].previousId",
        "no-group": "batch[0].groupId",
        "ts": "batch[1].timestamp",
        "original": "batch[2].originalTimestamp",
        "n": "batch[3].traits.score",
    }
    assert set(await events_of(stub)) == {"ok"}


async def test_single_event_routes_answer_with_the_senders_field_names(collector: Any) -> None:
    _, host = collector
    cases = [
        ("track", {"userId": "s1"}, "event: "),
        ("page", {"userId": "s1", "name": "a\u0000b"}, "name: "),
        ("group", {"userId": "s1"}, "groupId: "),
        ("alias", {"userId": "s1"}, "previousId: "),
        ("identify", {"userId": "s1", "traits": {"score": float("nan")}}, "traits.score: "),
        ("identify", {"userId": "s1", "traits": {"a b": {"deep": 1e999}}}, "traits.`a b`.deep: "),
        (
            "track",
            {"userId": "s1", "event": "E", "timestamp": "2099-01-01T00:00:00Z"},
            "timestamp: ",
        ),
        ("track", {"messageId": "no-ids", "event": "E"}, "needs at least one identifier"),
    ]
    async with httpx.AsyncClient(base_url=host, auth=(WRITE_KEY, ""), timeout=10) as http:
        for route, body, start in cases:
            answer = await http.post(f"/v1/{route}", content=json.dumps(body).encode())
            assert answer.status_code == 400, (route, body)
            message = answer.json()["message"]
            assert message.startswith(start), (message, start)
            assert "events[" not in message and "_id" not in message


async def test_one_unstorable_trait_is_named_exactly_and_rejects_the_event(
    collector: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stub, host = collector
    caplog.set_level("INFO", logger=LOGGER)
    client = Client(WRITE_KEY, host=host, max_retries=0)

    def send() -> None:
        client.identify("t1", {"email": "t1@example.org", "score": float("nan")}, message_id="i1")
        client.flush()
        client.join()

    await asyncio.to_thread(send)
    assert logged_fields(caplog) == {"i1": "batch[0].traits.score"}
    # As IngestEvents: the event is rejected whole, its path named.
    event = pb.Event(type=pb.EVENT_TYPE_IDENTIFY, message_id="g1", user_id="t1")
    event.traits.update({"email": "t1@example.org"})
    event.traits["score"] = float("nan")
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=[event]))
    expect_rejected(answer, 0, "events[0].traits.score")
    assert await events_of(stub) == {}


async def test_page_and_screen_keep_their_category(collector: Any) -> None:
    stub, host = collector
    client = Client(WRITE_KEY, host=host, max_retries=0)

    def send() -> None:
        client.page("c1", "Docs", "Pricing", {"url": "https://x/p"}, message_id="p1")
        client.screen("c1", "Settings", "Profile", message_id="s1")
        client.page("c1", "Blog", None, message_id="p2")  # a category alone names it too
        client.flush()
        client.join()

    await asyncio.to_thread(send)
    stored = await events_of(stub)
    assert (stored["p1"].event, stored["p1"].properties["category"]) == ("Pricing", "Docs")
    assert stored["p1"].properties["url"] == "https://x/p"
    assert (stored["s1"].event, stored["s1"].properties["category"]) == ("Profile", "Settings")
    assert (stored["p2"].event, stored["p2"].properties["category"]) == ("Blog", "Blog")
    exported = await stub.ExportProfile(
        pb.ExportProfileRequest(name=f"{stored['p1'].customer}/profile")
    )
    assert '"category": "Docs"' in exported.data_json or '"category":"Docs"' in exported.data_json


async def test_an_event_dated_in_the_future_is_refused_and_moves_no_time(
    profile_server: Any,
) -> None:
    async with profile_server(max_event_time_ahead=timedelta(hours=2)) as (stub, _):
        now = datetime.now(UTC)
        events = [
            pb.Event(
                type=pb.EVENT_TYPE_TRACK,
                message_id="now",
                user_id="z",
                event="E",
                original_time=to_timestamp(now),
            ),
            pb.Event(
                type=pb.EVENT_TYPE_TRACK,
                message_id="2099",
                user_id="z",
                event="E",
                original_time=to_timestamp(datetime(2099, 1, 1, tzinfo=UTC)),
            ),
            # A sender's clock a year ahead: corrected by its sent time, taken.
            pb.Event(
                type=pb.EVENT_TYPE_TRACK,
                message_id="skewed",
                user_id="z",
                event="E",
                original_time=to_timestamp(now + timedelta(days=365)),
                sent_time=to_timestamp(now + timedelta(days=365, seconds=5)),
            ),
            # Within the bound: taken as sent.
            pb.Event(
                type=pb.EVENT_TYPE_TRACK,
                message_id="soon",
                user_id="z",
                event="E",
                original_time=to_timestamp(now + timedelta(hours=1)),
            ),
            pb.Event(
                type=pb.EVENT_TYPE_IDENTIFY,
                message_id="ahead",
                user_id="z",
                original_time=to_timestamp(now + timedelta(hours=3)),
            ),
        ]
        answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=events))
        description = expect_rejected(answer, 1, "events[1].original_time")
        assert "future" in description and "2 hours" in description
        expect_rejected(answer, 4, "events[4].original_time")
        statuses = [answer.results[i].status for i in (0, 2, 3)]
        assert statuses == [pb.INGEST_STATUS_ACCEPTED] * 3
        customer = answer.results[0].customer
        profile = await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
        last_seen = timestamp_to_datetime(profile.last_seen_time, field_path="last_seen_time")
        assert last_seen < now + timedelta(hours=2)
        assert profile.event_count == 3
