"""The closed loop on PostgreSQL, two replicas sharing one schema: status history,
provider events, the outbox relayed once to profile and consent, and erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from rapport.delivery.bootstrap import build
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import serve_in_process

from .._delivery_support import CUSTOMER, send_request
from .._loop_support import EMAIL, LoopUpstreams, loop_settings, loop_upstreams, settled, wait_for
from ..conftest import SmtpSink


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        fakes.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
        fakes.consent.grant(CUSTOMER)
        yield fakes


async def test_two_replicas_relay_each_outbox_item_once(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink, postgres_url: str, pg_schema: str
) -> None:
    settings = loop_settings(
        tmp_path, upstreams, smtp.port, database_url=postgres_url, database_schema=pg_schema
    )
    async with (
        serve_in_process(build, settings) as first,
        serve_in_process(build, settings) as second,
        grpc.aio.insecure_channel(first.address) as channel_a,
        grpc.aio.insecure_channel(second.address) as channel_b,
        httpx.AsyncClient(base_url=f"http://{second.http_address}") as http,
    ):
        a, b = pb_grpc.DeliveryServiceStub(channel_a), pb_grpc.DeliveryServiceStub(channel_b)
        accepted = await a.SendMessage(send_request("k-1"))
        sent = await settled(b, accepted.name)
        assert [c.status for c in sent.status_history] == ["QUEUED", "SENT"]
        for stub, kind in (
            (a, pb.PROVIDER_EVENT_TYPE_DELIVERED),
            (b, pb.PROVIDER_EVENT_TYPE_BOUNCED),
        ):
            answer = await stub.ReportProviderEvent(
                pb.ReportProviderEventRequest(
                    parent="workspaces/default", message=accepted.name, type=kind
                )
            )
            assert answer.outcome == pb.PROVIDER_EVENT_OUTCOME_APPLIED
        await wait_for(lambda: len(upstreams.profile.events) == 3)
        await wait_for(lambda: upstreams.consent.records)
        assert upstreams.consent.opt_outs() == [(CUSTOMER, "marketing", EMAIL, "bounce")]
        # One-click through the other replica's HTTP endpoint, with a link the first signed.
        [(_, mail)] = smtp.received
        path = "/" + mail["List-Unsubscribe"].strip("<>").split("/", 3)[3]
        assert (await http.post(path)).status_code == 200
        erased = await b.EraseCustomerMessages(pb.EraseCustomerMessagesRequest(parent=CUSTOMER))
        assert erased.erased_message_count == 1
        message = await a.GetMessage(
            pb.GetMessageRequest(name=accepted.name, view=pb.MESSAGE_VIEW_FULL)
        )
    assert message.state == pb.MESSAGE_STATE_BOUNCED and message.HasField("erase_time")
    assert sorted(e.event for e in upstreams.profile.events.values()) == [
        "Email Bounced",
        "Email Delivered",
        "Email Sent",
    ]
    # Leased by one replica at a time: nothing was relayed twice.
    assert upstreams.profile.received == 3
    assert len(upstreams.consent.records) == 2
