"""GrpcProfileClient coalescing concurrent reads into BatchGetProfiles, against the fake
profile gRPC server: every error stays the one caller's that it belongs to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from rapport.delivery.adapters.profile_client import (
    PROFILE_BATCH,
    CustomerProfile,
    GrpcProfileClient,
    ProfileNotFound,
)
from rapport.delivery.adapters.upstream import UpstreamUnavailable, UpstreamUnreadable
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.grpcclients import open_channel
from rapport.grpctesting import eventually, serve_fakes
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

from .._delivery_support import delivery, send_request
from ..conftest import FakeProfileService


def customer(i: int, workspace: str = "default") -> str:
    return f"workspaces/{workspace}/customers/c{i:04d}"


def email(customer: str) -> str:
    return f"{customer.rsplit('/', 1)[1]}@example.com"


def known(upstreams: Any, *customers: str) -> None:
    for c in customers:
        upstreams.profile.traits[c] = {"email": email(c), "first_name": "Ada"}


@pytest.fixture
async def client(upstreams: Any) -> AsyncIterator[GrpcProfileClient]:
    async with open_channel(upstreams.address, DeliverySettings()) as channel:
        yield GrpcProfileClient(channel)


async def read_all(client: GrpcProfileClient, customers: list[str]) -> list[Any]:
    """Each customer's get_profile, all issued in one event-loop iteration."""
    return await asyncio.gather(*(client.get_profile(c) for c in customers), return_exceptions=True)


async def test_concurrent_reads_go_out_as_one_batch(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(50)]
    known(upstreams, *customers)
    got = await read_all(client, customers)
    assert got == [CustomerProfile(c, {"email": email(c), "first_name": "Ada"}) for c in customers]
    [batch] = upstreams.profile.batches
    assert batch.parent == "workspaces/default"
    assert list(batch.names) == [f"{c}/profile" for c in customers]
    assert upstreams.profile.gets == []


async def test_a_customer_asked_twice_is_asked_once(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(5)]
    known(upstreams, *customers)
    got = await read_all(client, [*customers, customers[0], customers[3]])
    assert [p.customer for p in got] == [*customers, customers[0], customers[3]]
    [batch] = upstreams.profile.batches
    assert list(batch.names) == [f"{c}/profile" for c in customers]


async def test_a_lone_read_is_a_get_profile(upstreams: Any, client: Any) -> None:
    known(upstreams, customer(1))
    assert (await client.get_profile(customer(1))).customer == customer(1)
    assert (upstreams.profile.gets, upstreams.profile.batches) == ([f"{customer(1)}/profile"], [])


async def test_one_batch_per_workspace(upstreams: Any, client: Any) -> None:
    customers = [customer(i, w) for w in ("default", "other") for i in range(3)]
    known(upstreams, *customers)
    got = await read_all(client, customers)
    assert [p.customer for p in got] == customers
    assert sorted((b.parent, len(b.names)) for b in upstreams.profile.batches) == [
        ("workspaces/default", 3),
        ("workspaces/other", 3),
    ]


async def test_batches_hold_at_most_a_thousand(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(PROFILE_BATCH + 10)]
    known(upstreams, *customers)
    got = await read_all(client, customers)
    assert [p.customer for p in got] == customers
    assert [len(b.names) for b in upstreams.profile.batches] == [PROFILE_BATCH, 10]


async def test_reads_while_a_batch_is_in_flight_go_in_the_next(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(6)]
    known(upstreams, *customers)
    upstreams.profile.gate = asyncio.Event()
    first = asyncio.gather(*(client.get_profile(c) for c in customers[:3]))
    await asyncio.wait_for(upstreams.profile.entered.wait(), 5)
    later = asyncio.gather(*(client.get_profile(c) for c in customers[3:]))
    await asyncio.sleep(0.05)
    upstreams.profile.gate.set()
    assert [p.customer for p in [*await first, *await later]] == customers
    assert [list(b.names) for b in upstreams.profile.batches] == [
        [f"{c}/profile" for c in customers[:3]],
        [f"{c}/profile" for c in customers[3:]],
    ]


async def test_a_missing_customer_fails_alone(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(10)]
    known(upstreams, *customers[:4], *customers[5:])
    got = await read_all(client, customers)
    assert isinstance(got[4], ProfileNotFound) and got[4].args == (customers[4],)
    assert [p.customer for i, p in enumerate(got) if i != 4] == customers[:4] + customers[5:]
    # The batch refused as a whole, then each customer asked alone.
    assert len(upstreams.profile.batches) == 1
    assert sorted(upstreams.profile.gets) == sorted(f"{c}/profile" for c in customers)


async def test_an_unreadable_profile_fails_alone(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(10)]
    known(upstreams, *customers)
    upstreams.profile.traits[customers[2]]["score"] = struct_pb2.Value(number_value=float("nan"))
    got = await read_all(client, customers)
    assert isinstance(got[2], UpstreamUnreadable) and got[2].field == "traits.score.value"
    assert all(isinstance(p, CustomerProfile) for i, p in enumerate(got) if i != 2)
    assert (len(upstreams.profile.batches), upstreams.profile.gets) == (1, [])


@pytest.mark.parametrize("reason", [None, "SHUTTING_DOWN"])
async def test_unavailable_fails_every_waiting_call(
    upstreams: Any, client: Any, reason: str | None
) -> None:
    customers = [customer(i) for i in range(10)]
    known(upstreams, *customers)
    upstreams.profile.unavailable = True
    upstreams.profile.unavailable_reason = reason
    got = await read_all(client, customers)
    assert all(isinstance(e, UpstreamUnavailable) for e in got)
    assert {(e.code, e.reason) for e in got} == {("UNAVAILABLE", reason or "")}
    assert (len(upstreams.profile.batches), upstreams.profile.gets) == (1, [])


async def test_an_older_profile_without_batches_is_read_one_by_one(
    upstreams: Any, client: Any
) -> None:
    customers = [customer(i) for i in range(8)]
    known(upstreams, *customers[1:])
    upstreams.profile.batch_unimplemented = True
    got = await read_all(client, customers)
    assert isinstance(got[0], ProfileNotFound)
    assert [p.customer for p in got[1:]] == customers[1:]
    assert len(upstreams.profile.gets) == 8
    # Remembered: not asked for a batch again.
    again = await read_all(client, customers[1:])
    assert [p.customer for p in again] == customers[1:]
    assert len(upstreams.profile.batches) == 0 and len(upstreams.profile.gets) == 15


async def test_one_caller_cancelled_leaves_the_others_answered(upstreams: Any, client: Any) -> None:
    customers = [customer(i) for i in range(5)]
    known(upstreams, *customers)
    upstreams.profile.gate = asyncio.Event()
    reads = [asyncio.ensure_future(client.get_profile(c)) for c in customers]
    await asyncio.wait_for(upstreams.profile.entered.wait(), 5)
    reads[1].cancel()
    upstreams.profile.gate.set()
    got = await asyncio.gather(*reads, return_exceptions=True)
    assert isinstance(got[1], asyncio.CancelledError)
    assert [p.customer for i, p in enumerate(got) if i != 1] == customers[:1] + customers[2:]
    assert len(upstreams.profile.batches) == 1


async def test_a_malformed_name_fails_its_call_at_once(upstreams: Any, client: Any) -> None:
    known(upstreams, customer(1), customer(2))
    got = await read_all(client, ["customers/nope", customer(1), customer(2)])
    assert isinstance(got[0], InvalidArgument)
    assert [p.customer for p in got[1:]] == [customer(1), customer(2)]
    [batch] = upstreams.profile.batches
    assert list(batch.names) == [f"{customer(1)}/profile", f"{customer(2)}/profile"]


class OddProfile(FakeProfileService):
    """BatchGetProfiles refusing with `refusal`, or answering one profile short."""

    def __init__(self, refusal: grpc.StatusCode | None) -> None:
        super().__init__()
        self.refusal = refusal

    async def BatchGetProfiles(
        self,
        request: profile_service_pb2.BatchGetProfilesRequest,
        context: grpc.aio.ServicerContext,
    ) -> profile_service_pb2.BatchGetProfilesResponse:
        self.batches.append(request)
        if self.refusal is not None:
            await context.abort(self.refusal, "names[1] is refused")
        return profile_service_pb2.BatchGetProfilesResponse(
            profiles=[self._profile(name) for name in request.names[1:]]
        )


@pytest.mark.parametrize(
    ("refusal", "asked_alone", "failure"),
    [
        # One customer's name refused (names[i]): each asked alone, as GetProfile would.
        (grpc.StatusCode.INVALID_ARGUMENT, True, None),
        # A token without profile.read is refused for every customer alike.
        (grpc.StatusCode.PERMISSION_DENIED, False, "PERMISSION_DENIED"),
        # An answer that does not fit the question.
        (None, False, "MALFORMED_ANSWER"),
    ],
)
async def test_odd_batch_answers(
    refusal: grpc.StatusCode | None, asked_alone: bool, failure: str | None
) -> None:
    profile = OddProfile(refusal)
    customers = [customer(i) for i in range(3)]
    for c in customers:
        profile.traits[c] = {"email": "x@example.com"}
    async with (
        serve_fakes(
            lambda s: profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(profile, s)
        ) as address,
        open_channel(address, DeliverySettings()) as channel,
    ):
        got = await read_all(GrpcProfileClient(channel), customers)
    if asked_alone:
        assert [p.customer for p in got] == customers
        assert len(profile.gets) == 3
    else:
        assert {(type(e), e.code) for e in got} == {(UpstreamUnavailable, failure)}
        assert profile.gets == []


async def test_dispatch_reads_profiles_in_batches(
    make_settings: Any, smtp: Any, upstreams: Any
) -> None:
    customers = [customer(i) for i in range(20)]
    known(upstreams, *customers[1:])
    for c in customers:
        upstreams.consent.grant(c)
    upstreams.profile.gate = asyncio.Event()  # holds the first reads: the rest queue up
    async with delivery(make_settings()) as stub:
        answered = await stub.BatchSendMessages(
            pb.BatchSendMessagesRequest(
                parent="workspaces/default",
                requests=[send_request(f"p-{i}", customer=c) for i, c in enumerate(customers)],
            )
        )
        await asyncio.wait_for(upstreams.profile.entered.wait(), 5)
        await asyncio.sleep(0.2)
        upstreams.profile.gate.set()

        async def final_states() -> list[tuple[str, str]] | None:
            states = [
                await stub.GetMessage(pb.GetMessageRequest(name=m.name)) for m in answered.messages
            ]
            if any(m.state in (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENDING) for m in states):
                return None
            return [(pb.MessageState.Name(m.state), m.failure_reason) for m in states]

        states = await eventually(final_states, timeout=10)
    # The customer without a profile fails alone; the others are sent.
    assert states == [("MESSAGE_STATE_FAILED", "NO_PROFILE")] + [("MESSAGE_STATE_SENT", "")] * 19
    assert len(smtp.received) == 19
    assert upstreams.profile.batches
    # Far fewer calls than messages (GetProfile only for a lone read or the fallback).
    assert len(upstreams.profile.batches) + len(set(upstreams.profile.gets)) < 20


async def test_concurrent_previews_share_a_batch_and_fail_alone(
    make_settings: Any, upstreams: Any
) -> None:
    customers = [customer(i) for i in range(6)]
    known(upstreams, *customers[:4])
    upstreams.profile.traits[customers[5]] = {"x": struct_pb2.Value(number_value=float("nan"))}
    upstreams.profile.gate = asyncio.Event()  # the previews arrive while it is held
    template = pb.Template(
        default_locale="en",
        contents={"en": pb.TemplateContent(subject="Hi {{ traits.first_name }}", text_body="b")},
    )
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        previews = [
            asyncio.ensure_future(
                stub.RenderTemplate(
                    pb.RenderTemplateRequest(
                        parent="workspaces/default", inline_template=template, customer=c
                    )
                )
            )
            for c in customers
        ]
        await asyncio.wait_for(upstreams.profile.entered.wait(), 5)
        await asyncio.sleep(0.2)
        upstreams.profile.gate.set()
        got = await asyncio.gather(*previews, return_exceptions=True)
    assert [g.content.subject for g in got[:4]] == ["Hi Ada"] * 4
    assert isinstance(got[4], grpc.aio.AioRpcError) and got[4].code() == grpc.StatusCode.NOT_FOUND
    assert isinstance(got[5], grpc.aio.AioRpcError)
    assert got[5].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert upstreams.profile.batches  # the previews held back were read together
