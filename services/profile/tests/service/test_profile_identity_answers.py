"""What identity answers, as the profile's identity client reads it: observation times,
refusals with or without readable details, answers profile cannot use."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from rapport.grpctesting import expect_error
from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import timestamp_to_datetime, to_timestamp

from .._profile_support import DOMAIN, expect_invalid

PARENT = "workspaces/default"
ALL = "workspaces/default/customers/-"
Stub = Any


async def ingest(stub: Stub, *events: pb.Event) -> pb.IngestEventsResponse:
    return await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=list(events)))


async def stored_count(stub: Stub) -> int:
    page = await stub.ListEvents(pb.ListEventsRequest(parent=ALL, page_size=1000))
    return len(page.events)


async def test_identity_is_told_when_the_identifiers_were_seen(
    profile: Stub, identity: Any, event_factory: Any
) -> None:
    seen = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    stamp, sent = to_timestamp(seen), to_timestamp(seen + timedelta(seconds=10))
    await ingest(profile, event_factory("m-1", original_time=stamp))
    [request] = identity[0].requests
    assert request.requests[0].observe_time == stamp
    # With a sent time, the corrected event time: receive time minus the 10 s gap.
    await ingest(profile, event_factory("m-2", original_time=stamp, sent_time=sent))
    observe_time = identity[0].requests[1].requests[0].observe_time
    observed = timestamp_to_datetime(observe_time, field_path="observe_time")
    assert abs(datetime.now(UTC) - timedelta(seconds=10) - observed) < timedelta(seconds=5)


def _rename_customer(name: str) -> Callable[[ipb.BatchResolveResponse], None]:
    def tamper(response: ipb.BatchResolveResponse) -> None:
        response.responses[0].customer.name = name

    return tamper


def _drop_last(response: ipb.BatchResolveResponse) -> None:
    del response.responses[-1]


def _odd_merged(response: ipb.BatchResolveResponse) -> None:
    response.responses[0].merged_customers.append("customers/ann@example.com")


@pytest.mark.parametrize(
    "tamper",
    [
        _rename_customer(""),
        _rename_customer("workspaces/default/customers/ANN@EXAMPLE.COM"),
        _rename_customer("workspaces/other/customers/c1"),
        _drop_last,
        _odd_merged,
    ],
    ids=["empty-name", "not-a-name", "other-workspace", "too-few-answers", "bad-merged-name"],
)
async def test_an_answer_profile_cannot_use_is_a_definite_error(
    profile: Stub,
    identity: Any,
    event_factory: Any,
    tamper: Callable[[ipb.BatchResolveResponse], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    identity[0].tamper = tamper
    info, _ = await expect_error(
        ingest(profile, event_factory("m-1"), event_factory("m-2", user_id="bob")),
        grpc.StatusCode.FAILED_PRECONDITION,
        domain=DOMAIN,
    )
    assert info.reason == "IDENTITY_BAD_RESPONSE"
    assert await stored_count(profile) == 0
    # Logged without the names identity sent.
    assert [r for r in caplog.records if "answer unusable" in r.getMessage()]
    assert not [r for r in caplog.records if "example.com" in str(r.__dict__).lower()]
    identity[0].tamper = None
    assert len((await ingest(profile, event_factory("m-1"))).results) == 1


def _all_blocked(response: ipb.BatchResolveResponse) -> None:
    """Identity linked none of the second observation's identifiers (blocked)."""
    answer = response.responses[1]
    answer.Clear()
    answer.rejected_identifiers.add(
        identifier={"type": "user_id", "value": "bob"},
        reason="BLOCKED_VALUE",
        description="the value matches a blocked pattern of its identifier type",
    )


async def test_an_event_identity_links_no_identifier_of_is_rejected_alone(
    profile: Stub, identity: Any, event_factory: Any
) -> None:
    identity[0].tamper = _all_blocked
    answer = await ingest(profile, event_factory("m-1"), event_factory("m-2", user_id="bob"))
    accepted, refused = answer.results
    assert accepted.status == pb.INGEST_STATUS_ACCEPTED and accepted.customer
    assert refused.status == pb.INGEST_STATUS_REJECTED and not refused.customer
    assert refused.rejection.field == "events[1].user_id"
    assert refused.rejection.reason == "IDENTIFIER_REFUSED"
    assert "blocked pattern" in refused.rejection.description
    assert "BLOCKED_VALUE" in refused.rejection.description
    assert await stored_count(profile) == 1


@pytest.mark.parametrize("details", [b"\xff\xfe not a status", b""], ids=["garbled", "empty"])
async def test_a_refusal_without_readable_details_refuses_the_batch(
    profile: Stub, identity: Any, event_factory: Any, details: bytes
) -> None:
    identity[0].fail_with = grpc.StatusCode.INVALID_ARGUMENT
    identity[0].fail_details = details
    await expect_invalid(ingest(profile, event_factory("m-1")), "events")
    assert await stored_count(profile) == 0
