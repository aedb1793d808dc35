"""The Segment-compatible HTTP collector: Segment's own Python library, unchanged,
pointed at profile's HTTP port, lands its events in profiles; Segment's status codes
and limits (401 bad write key, 400 invalid JSON or too large, 200 otherwise, a bad
event of a batch rejected alone), gzip bodies."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx
import pytest
from rapport.errors import Aborted, Unavailable
from rapport.grpctesting import eventually
from rapport.jsonlogs import JsonFormatter
from rapport.profile.entrypoints import http_collector
from rapport.profile.v1 import profile_service_pb2 as pb
from segment.analytics import Client
from segment.analytics.request import APIError

WRITE_KEY = "wk-test-123"
PARENT = "workspaces/default"
Stub = Any


@pytest.fixture
async def collector(profile_server: Any) -> Any:
    async with profile_server(write_keys={WRITE_KEY: "default"}) as (stub, running):
        yield stub, f"http://{running.http_address}"


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"next": value}
    return value


async def events_of(stub: Stub) -> dict[str, pb.Event]:
    page = await stub.ListEvents(
        pb.ListEventsRequest(parent=f"{PARENT}/customers/-", page_size=500)
    )
    return {e.message_id: e for e in page.events}


async def test_segment_library_events_land_in_profiles(collector: Any) -> None:
    stub, host = collector
    errors: list[Exception] = []
    client = Client(
        WRITE_KEY, host=host, gzip=True, max_retries=0, on_error=lambda e, _: errors.append(e)
    )

    def send() -> None:
        client.identify("user-7", {"email": "u7@example.com", "plan": "pro"}, message_id="m1")
        client.track("user-7", "Order Completed", {"total": 42.5}, message_id="m2")
        client.page("user-7", "Docs", "Pricing", {"url": "https://x/p"}, message_id="m3")
        client.screen("user-7", "App", "Home", message_id="m4")
        client.group("user-7", "acme", {"name": "Acme"}, message_id="m5")
        client.alias("anon-7", "user-7", message_id="m6")
        client.flush()  # one gzipped /v1/batch request from the library's thread
        client.join()

    await asyncio.to_thread(send)
    assert errors == []
    stored = await events_of(stub)
    assert set(stored) == {"m1", "m2", "m3", "m4", "m5", "m6"}
    customer = stored["m1"].customer
    assert {e.customer for e in stored.values()} == {customer}
    assert stored["m2"].event == "Order Completed"
    assert stored["m2"].properties["total"] == 42.5
    assert stored["m3"].type == pb.EVENT_TYPE_PAGE and stored["m3"].event == "Pricing"
    assert stored["m5"].group_id == "acme"
    assert stored["m1"].context["library"]["name"] == "analytics-python"
    profile = await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
    assert profile.traits["plan"].value.string_value == "pro"
    assert profile.traits["plan"].source.library_name == "analytics-python"
    assert profile.event_count == 6 and len(profile.groups) == 1

    # Sync mode: one request per call, the same landing; a replay is stored once.
    sync = Client(WRITE_KEY, host=host, sync_mode=True, max_retries=0)
    for _ in range(5):
        await asyncio.to_thread(sync.track, "user-7", "Viewed", {}, message_id="m7")
    after = await stub.GetProfile(pb.GetProfileRequest(name=f"{customer}/profile"))
    assert after.event_count == 7

    # The library writes NaN as it is (not JSON): that event alone is refused, the batch
    # lands (a 400 for the whole batch would lose every event: the library does not resend).
    batching = Client(WRITE_KEY, host=host, max_retries=0, on_error=lambda e, _: errors.append(e))

    def send_with_nan() -> None:
        batching.track("user-7", "Scored", {"score": float("nan")}, message_id="m8")
        batching.track("user-7", "Scored", {"score": 0.5}, message_id="m9")
        batching.flush()
        batching.join()

    await asyncio.to_thread(send_with_nan)
    assert errors == []
    stored = await events_of(stub)
    assert "m9" in stored and "m8" not in stored


async def test_wrong_write_key_is_401_for_the_library(collector: Any) -> None:
    _, host = collector
    client = Client("not-a-key", host=host, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as raised:
        await asyncio.to_thread(client.track, "u", "Viewed")
    assert raised.value.status == 401


@pytest.mark.parametrize(
    "failure",
    [
        Unavailable("IDENTITY_UNAVAILABLE", "identity away"),
        Aborted("CONCURRENT_UPDATE", "customers of the batch kept being erased; retry"),
    ],
)
async def test_events_not_stored_now_are_503_for_the_library_to_retry(
    collector: Any, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    stub, host = collector

    async def refused(*_args: object) -> None:
        raise failure

    monkeypatch.setattr(http_collector.ingestion, "ingest_events", refused)
    async with httpx.AsyncClient(auth=(WRITE_KEY, "")) as http:
        answer = await http.post(
            f"{host}/v1/track", json={"userId": "u", "event": "Viewed", "messageId": "r-1"}
        )
    # Segment's libraries retry a 5xx; an ABORTED was a logged 500 "internal error".
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "unavailable"
    monkeypatch.undo()
    assert await events_of(stub) == {}


async def test_status_codes_limits_and_bodies(collector: Any) -> None:
    stub, host = collector
    auth = (WRITE_KEY, "")
    async with httpx.AsyncClient(base_url=host, timeout=10) as http:
        ok = await http.post(
            "/v1/track",
            json={"userId": "h1", "event": "Signed Up", "messageId": "h-1"},
            auth=auth,
        )
        assert (ok.status_code, ok.json()) == (200, {"success": True})

        # The write key in the body, as Segment's libraries also send it.
        body = {
            "writeKey": WRITE_KEY,
            "batch": [{"type": "track", "userId": "h1", "event": "X", "messageId": "h-2"}],
        }
        assert (await http.post("/v1/batch", json=body)).status_code == 200

        for bad_auth in (None, ("nope", ""), ("", "")):
            refused = await http.post(
                "/v1/track", json={"userId": "h1", "event": "E"}, auth=bad_auth
            )
            assert refused.status_code == 401, bad_auth
            assert refused.headers["www-authenticate"] == "Basic"

        not_json = await http.post("/v1/batch", content=b"{nope", auth=auth)
        assert not_json.status_code == 400 and not_json.json()["success"] is False
        nan = await http.post(
            "/v1/track",
            content=b'{"userId": "a", "event": "E", "properties": {"n": NaN}}',
            auth=auth,
        )
        assert nan.status_code == 400 and "properties" in nan.json()["message"]
        # In a batch (Segment's Python library writes NaN), that event alone is rejected.
        nan_batch = await http.post(
            "/v1/batch",
            content=b'{"batch": [{"type": "track", "userId": "h3", "event": "E", '
            b'"messageId": "n-1", "properties": {"n": NaN}}, {"type": "track", '
            b'"userId": "h3", "event": "E", "messageId": "n-2", "properties": {"n": 1}}]}',
            auth=auth,
        )
        assert (nan_batch.status_code, nan_batch.json()) == (200, {"success": True})
        # 1e999 parses as infinity: refused as IngestEvents refuses it, never stored as null.
        overflow = await http.post(
            "/v1/track",
            content=b'{"userId": "h3", "event": "E", "messageId": "o-1", "properties": '
            b'{"n": 1e999}}',
            auth=auth,
        )
        assert overflow.status_code == 400 and "properties" in overflow.json()["message"]
        overflow_id = await http.post(
            "/v1/track", content=b'{"userId": -1e999, "event": "E", "messageId": "o-2"}', auth=auth
        )
        assert overflow_id.status_code == 400 and "userId" in overflow_id.json()["message"]

        # 500 KB a request (after gunzip), 32 KB an event.
        huge = {
            "batch": [
                {
                    "type": "track",
                    "userId": "h1",
                    "event": "E",
                    "properties": {"p": "x" * 1000},
                    "messageId": f"big-{i}",
                }
                for i in range(600)
            ]
        }
        too_large = await http.post("/v1/batch", json=huge, auth=auth)
        assert too_large.status_code == 400
        packed = gzip.compress(json.dumps(huge).encode())
        assert len(packed) < 100_000
        zipped = await http.post(
            "/v1/batch", content=packed, auth=auth, headers={"content-encoding": "gzip"}
        )
        assert zipped.status_code == 400
        one_big = await http.post(
            "/v1/track",
            json={"userId": "h1", "event": "E", "properties": {"p": "x" * 40_000}},
            auth=auth,
        )
        assert one_big.status_code == 400

        # A bad event of a batch is rejected alone; the others are stored.
        mixed = {
            "batch": [
                {"type": "track", "userId": "h2", "event": "Good", "messageId": "g-1"},
                {"type": "track", "userId": "h2", "messageId": "g-2"},  # no event name
                {"type": "warp", "userId": "h2", "messageId": "g-3"},
                {
                    "type": "track",
                    "userId": "h2",
                    "event": "Bad",
                    "messageId": "g-4",
                    "timestamp": "yesterday",
                },
                {
                    "type": "track",
                    "userId": "h2",
                    "event": "Good",
                    "messageId": "g-5",
                    "properties": {"p": "x" * 40_000},
                },
                "not an object",
                {
                    "type": "track",
                    "userId": "h2",
                    "event": "Deep",
                    "messageId": "g-7",
                    "properties": nested(40),
                },
                {
                    "type": "track",
                    "userId": "h2",
                    "event": "Good",
                    "messageId": "g-6",
                    "timestamp": "2026-01-02T03:04:05.678Z",
                },
            ]
        }
        taken = await http.post("/v1/batch", json=mixed, auth=auth)
        assert (taken.status_code, taken.json()) == (200, {"success": True})
        single_bad = await http.post("/v1/track", json={"userId": "h2"}, auth=auth)
        assert single_bad.status_code == 400 and "event" in single_bad.json()["message"]

        wrong_method = await http.get("/v1/batch", auth=auth)
        assert wrong_method.status_code == 405

    stored = await events_of(stub)
    assert {"h-1", "h-2", "g-1", "g-6"} <= set(stored)
    assert "n-2" in stored
    assert not {"g-2", "g-3", "g-4", "g-5", "g-7", "o-1", "o-2", "n-1"} & set(stored)
    assert not any(m.startswith("big-") for m in stored)
    assert stored["g-6"].original_time.ToJsonString() == "2026-01-02T03:04:05.678Z"


async def test_a_write_key_over_its_rate_gets_429_and_others_go_on(profile_server: Any) -> None:
    keys = {WRITE_KEY: "default", "wk-other": "default"}
    async with profile_server(write_keys=keys, collector_requests_per_second=1) as (stub, run):
        async with httpx.AsyncClient(base_url=f"http://{run.http_address}", timeout=10) as http:

            def track(key: str, message_id: str) -> Any:
                body = {"userId": "r1", "event": "Viewed", "messageId": message_id}
                return http.post("/v1/track", json=body, auth=(key, ""))

            assert (await track(WRITE_KEY, "r-1")).status_code == 200
            refused = await track(WRITE_KEY, "r-2")
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.json() == {
                "success": False,
                "code": "too_many_requests",
                "message": "Too many requests; retry later",
            }
            assert (await track("wk-other", "r-3")).status_code == 200
            # Authentication comes first: an unknown key is still 401.
            assert (await track("nope", "r-4")).status_code == 401
        assert set(await events_of(stub)) == {"r-1", "r-3"}


async def test_too_many_requests_in_flight_get_429_at_once(
    profile_server: Any, identity: Any
) -> None:
    fake, _ = identity
    fake.hold = asyncio.Event()
    async with profile_server(write_keys={WRITE_KEY: "default"}, collector_max_in_flight=1) as (
        stub,
        running,
    ):
        async with httpx.AsyncClient(base_url=f"http://{running.http_address}", timeout=10) as http:
            auth = (WRITE_KEY, "")
            first = asyncio.ensure_future(
                http.post(
                    "/v1/track", json={"userId": "s1", "event": "A", "messageId": "s-1"}, auth=auth
                )
            )

            async def ingesting() -> bool:
                return bool(fake.requests)

            await eventually(ingesting)  # the first request is being ingested
            second = await http.post(
                "/v1/track", json={"userId": "s1", "event": "B", "messageId": "s-2"}, auth=auth
            )
            assert (second.status_code, second.headers["retry-after"]) == (429, "1")
            fake.hold.set()
            assert (await first).status_code == 200
            again = await http.post(
                "/v1/track", json={"userId": "s1", "event": "B", "messageId": "s-2"}, auth=auth
            )
            assert again.status_code == 200
        assert set(await events_of(stub)) == {"s-1", "s-2"}


async def test_the_segment_library_retries_a_429_and_everything_lands(
    profile_server: Any,
) -> None:
    async with profile_server(
        write_keys={WRITE_KEY: "default"}, collector_requests_per_second=1
    ) as (stub, running):
        errors: list[Exception] = []
        client = Client(
            WRITE_KEY,
            host=f"http://{running.http_address}",
            max_retries=5,
            upload_size=1,  # one request per event: the second is over the rate
            on_error=lambda e, _: errors.append(e),
        )

        def send() -> None:
            for n in range(3):
                client.track("lib-1", "Viewed", {"n": n}, message_id=f"lib-{n}")
            client.flush()
            client.join()

        await asyncio.to_thread(send)
        assert errors == []
        assert {"lib-0", "lib-1", "lib-2"} <= set(await events_of(stub))


async def test_a_batch_with_refused_events_logs_one_warning_naming_their_fields(
    collector: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stub, host = collector
    secret = "secret-value-7"
    batch = [
        {"type": "track", "userId": "w1", "event": "E", "messageId": "w-ok"},
        {"type": "track", "userId": "w1", "messageId": "w-no-event", "properties": {secret: 1}},
        {"type": "nope", "userId": "w1", "messageId": "w-bad-type"},
    ]
    caplog.set_level("INFO", logger="rapport.profile.entrypoints.http_collector")
    async with httpx.AsyncClient(base_url=host, timeout=10) as http:
        reply = await http.post("/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
        clean = await http.post(
            "/v1/batch",
            json={"batch": [{"type": "track", "userId": "w2", "event": "E", "messageId": "w-2"}]},
            auth=(WRITE_KEY, ""),
        )
    assert (reply.status_code, clean.status_code) == (200, 200)
    assert "w-ok" in await events_of(stub)
    warnings = [r for r in caplog.records if r.getMessage() == "collector events rejected"]
    assert len(warnings) == 1  # the clean batch logs none
    warning = warnings[0]
    assert warning.levelname == "WARNING"
    assert (warning.count, warning.batch_size, warning.workspace) == (2, 3, "default")
    named = {r["message_id"]: (r["field"], r["reason"]) for r in warning.rejections}
    assert named["w-bad-type"] == ("batch[2].type", "INVALID_FIELD")
    # Named as the sender named it (Segment's JSON), not as IngestEvents does.
    assert named["w-no-event"] == ("batch[1].event", "INVALID_FIELD")
    assert secret not in repr(warning.__dict__)
    # What the service's log line says (only allow-listed keys are written).
    line = json.loads(JsonFormatter("profile").format(warning))
    assert {r["message_id"] for r in line["rejections"]} == {"w-no-event", "w-bad-type"}
    assert line["count"] == 2 and secret not in json.dumps(line)
