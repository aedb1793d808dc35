"""One message that cannot be processed never stops the dispatcher nor blocks the queue:
rows written directly into the database, profiles the profile service cannot describe."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import struct_pb2
from rapport.delivery.adapters.tables import messages as messages_table
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as pb_grpc
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, delivery, nested_lists, send_request

ADDRESS = "ada@example.com"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
WITHIN = 10.0


def stored_row(message_id: str, **overrides: Any) -> dict[str, Any]:
    """A queued message as a row, due long ago (so it is claimed first)."""
    row: dict[str, Any] = {
        "id": message_id,
        "workspace": "default",
        "customer_id": "c0ffee",
        "purpose": "marketing",
        "channel": "EMAIL",
        "idempotency_key": f"stored-{message_id}",
        "payload_fingerprint": "0" * 64,
        "subject": "Hi",
        "text_body": "Body {{ data.n }}",
        "html_body": "",
        "data": '{"n":1}',
        "source": "",
        "state": "QUEUED",
        "attempt_count": 0,
        "provider": "",
        "provider_message_id": "",
        "failure_reason": "",
        "create_time": LONG_AGO,
        "update_time": LONG_AGO,
        "send_time": None,
        "next_attempt_time": LONG_AGO,
        "lease_token": None,
        "lease_expire_time": None,
    }
    row.update(overrides)
    return row


@asynccontextmanager
async def stored(settings: DeliverySettings, *rows: dict[str, Any]) -> AsyncIterator[None]:
    """Write rows straight into the service's database (as another version, or a bug, might)."""
    engine = create_engine(settings.database_url_or_default())
    try:
        async with engine.begin() as conn:
            await conn.execute(messages_table.insert(), list(rows))
        yield
    finally:
        await engine.dispose()


async def get(stub: pb_grpc.DeliveryServiceStub, message_id: str) -> pb.Message:
    return await stub.GetMessage(
        pb.GetMessageRequest(name=f"workspaces/default/messages/{message_id}")
    )


async def settled(stub: pb_grpc.DeliveryServiceStub, message_id: str) -> pb.Message:
    async def done() -> pb.Message | None:
        message = await get(stub, message_id)
        return (
            message
            if message.state not in (pb.MESSAGE_STATE_QUEUED, pb.MESSAGE_STATE_SENDING)
            else None
        )

    return await eventually(done, timeout=WITHIN)


@pytest.fixture
def known_customers(upstreams: Any) -> None:
    for customer in (CUSTOMER, OTHER_CUSTOMER):
        upstreams.profile.traits[customer] = {"email": ADDRESS, "first_name": "Ada"}
        upstreams.consent.grant(customer)


UNREADABLE_DATA = {
    "notjson": "{not json",
    "notobject": "[1, 2]",
    "toodeep": "[" * 100_000 + "]" * 100_000,
}


async def test_unreadable_stored_messages_fail_and_the_rest_keeps_flowing(
    make_settings: Any,
    smtp: Any,
    known_customers: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rapport")
    settings = make_settings(dispatch_concurrency=2)
    async with delivery(make_settings(dispatcher_enabled=False)):
        pass  # migrate the database only
    rows = [stored_row(message_id, data=text) for message_id, text in UNREADABLE_DATA.items()]
    rows += [
        # A channel and a state a newer version knows, this one does not. (SCHEDULED
        # played the unknown state until this version learnt it: PAUSED plays it now.)
        stored_row("pigeon", channel="CARRIER_PIGEON"),
        stored_row("scheduled", state="PAUSED"),
        # A template that parses nowhere (stored by a bug): TEMPLATE_ERROR, like any other.
        stored_row("badtemplate", subject="{{ oops"),
    ]
    async with stored(settings, *rows), delivery(settings) as stub:
        good = [
            await stub.SendMessage(send_request(f"good-{i}", customer=customer))
            for i, customer in enumerate((CUSTOMER, OTHER_CUSTOMER))
        ]
        sent = [await settled(stub, m.name.rsplit("/", 1)[1]) for m in good]
        unreadable = [await settled(stub, message_id) for message_id in UNREADABLE_DATA]
        broken_template = await settled(stub, "badtemplate")
        pigeon = await get(stub, "pigeon")
        scheduled = await get(stub, "scheduled")
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))

    assert [m.state for m in sent] == [pb.MESSAGE_STATE_SENT] * 2
    assert len(smtp.received) == 2
    for message in unreadable:
        assert (message.state, message.failure_reason, message.attempt_count) == (
            pb.MESSAGE_STATE_FAILED,
            "STORED_MESSAGE_UNREADABLE",
            1,
        )
    assert (broken_template.state, broken_template.failure_reason) == (
        pb.MESSAGE_STATE_FAILED,
        "TEMPLATE_ERROR",
    )
    # Left for a replica of the version that knows the channel: never claimed here.
    assert (pigeon.state, pigeon.channel, pigeon.attempt_count) == (
        pb.MESSAGE_STATE_QUEUED,
        channel_pb2.CHANNEL_UNSPECIFIED,
        0,
    )
    assert (scheduled.state, scheduled.channel) == (
        pb.MESSAGE_STATE_UNSPECIFIED,
        channel_pb2.CHANNEL_EMAIL,
    )
    # Every row is listed; the stored rows are the oldest, so they come last.
    assert len(listed.messages) == len(rows) + 2
    assert {m.name.rsplit("/", 1)[1] for m in listed.messages[2:]} == {r["id"] for r in rows}
    # A warning names each unreadable message, never what it holds.
    reasons = {"UNKNOWN_CHANNEL", "UNKNOWN_STATE", "UNREADABLE_DATA"}
    warned = {r.message_id for r in caplog.records if getattr(r, "error_reason", "") in reasons}
    assert {"pigeon", "scheduled", *UNREADABLE_DATA} <= warned
    assert "not json" not in "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


@pytest.mark.parametrize(
    "odd_trait",
    [
        struct_pb2.Value(number_value=float("nan")),
        struct_pb2.Value(number_value=float("inf")),
        nested_lists(33),
    ],
)
async def test_an_unreadable_profile_fails_that_message_only(
    make_settings: Any, smtp: Any, upstreams: Any, known_customers: None, odd_trait: Any
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": ADDRESS, "score": odd_trait}
    async with delivery(make_settings()) as stub:
        unreadable = await stub.SendMessage(send_request("odd", customer=CUSTOMER))
        readable = await stub.SendMessage(send_request("fine", customer=OTHER_CUSTOMER))
        failed = await settled(stub, unreadable.name.rsplit("/", 1)[1])
        sent = await settled(stub, readable.name.rsplit("/", 1)[1])
    assert (failed.state, failed.failure_reason, failed.attempt_count) == (
        pb.MESSAGE_STATE_FAILED,
        "PROFILE_UNREADABLE",
        1,
    )
    assert sent.state == pb.MESSAGE_STATE_SENT
    [(recipients, mail)] = smtp.received
    assert mail["X-Rapport-Message"] == readable.name


async def test_rows_this_version_cannot_read_are_still_listed(make_settings: Any) -> None:
    # Without a dispatcher the rows stay as written; listing and reading them works.
    settings = make_settings(dispatcher_enabled=False)
    async with delivery(settings):
        pass
    rows = [
        stored_row("a", data="{oops", create_time=LONG_AGO + timedelta(seconds=1)),
        stored_row("b", channel="CARRIER_PIGEON", state="PAUSED"),
    ]
    async with stored(settings, *rows), delivery(settings) as stub:
        page = await stub.ListMessages(
            pb.ListMessagesRequest(parent="workspaces/default", page_size=1)
        )
        rest = await stub.ListMessages(
            pb.ListMessagesRequest(
                parent="workspaces/default", page_size=1, page_token=page.next_page_token
            )
        )
        b = await get(stub, "b")
    assert [m.name.rsplit("/", 1)[1] for m in [*page.messages, *rest.messages]] == ["a", "b"]
    assert (b.channel, b.state) == (channel_pb2.CHANNEL_UNSPECIFIED, pb.MESSAGE_STATE_UNSPECIFIED)
    assert rest.next_page_token == ""
