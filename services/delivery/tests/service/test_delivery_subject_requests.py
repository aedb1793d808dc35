"""Data subject requests through the real server: ExportCustomerMessages pages through
everything held on one customer; EraseCustomerMessages redacts it, cancels what was not
sent, and leaves tombstones so idempotency keys keep answering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._delivery_support import CUSTOMER, OTHER_CUSTOMER, send_request
from .._loop_support import LoopUpstreams, loop_settings, loop_upstreams, serve, settled
from ..conftest import SmtpSink

ADDRESS = "ada@example.com"


@pytest.fixture
async def upstreams() -> AsyncIterator[LoopUpstreams]:
    async with loop_upstreams() as fakes:
        for customer, email in ((CUSTOMER, ADDRESS), (OTHER_CUSTOMER, "bob@example.com")):
            fakes.profile.traits[customer] = {"email": email, "first_name": "Ada"}
            fakes.consent.grant(customer)
            fakes.consent.grant(customer, channel=channel_pb2.CHANNEL_IN_APP)
        yield fakes


def _in_app(key: str) -> pb.SendMessageRequest:
    return send_request(
        key,
        channel=channel_pb2.CHANNEL_IN_APP,
        content=message_content_pb2.MessageContent(
            subject="News", text_body="Hi {{ traits.first_name }}"
        ),
    )


async def _export_all(running: object, page_size: int) -> list[pb.ExportedMessage]:
    stub = running.stub  # type: ignore[attr-defined]
    items: list[pb.ExportedMessage] = []
    token = ""
    while True:
        page = await stub.ExportCustomerMessages(
            pb.ExportCustomerMessagesRequest(parent=CUSTOMER, page_size=page_size, page_token=token)
        )
        assert len(page.messages) <= page_size
        items.extend(page.messages)
        token = page.next_page_token
        if not token:
            return items


async def test_export_then_erase_leaves_redacted_tombstones(
    tmp_path: Path, upstreams: LoopUpstreams, smtp: SmtpSink
) -> None:
    settings = loop_settings(tmp_path, upstreams, smtp.port)
    async with serve(settings) as running:
        first = await running.stub.SendMessage(send_request("k-1"))
        inbox = await running.stub.SendMessage(_in_app("k-2"))
        other = await running.stub.SendMessage(send_request("k-3", customer=OTHER_CUSTOMER))
        for accepted in (first, inbox, other):
            assert (await settled(running.stub, accepted.name)).state == pb.MESSAGE_STATE_SENT
    # Without a dispatcher, a message stays queued: it is cancelled by the erasure.
    async with serve(settings.model_copy(update={"dispatcher_enabled": False})) as running:
        pending = await running.stub.SendMessage(send_request("k-4"))

        exported = await _export_all(running, page_size=2)
        assert [e.message.name for e in exported] == [pending.name, inbox.name, first.name]
        by_name = {e.message.name: e for e in exported}
        mail = by_name[first.name]
        assert mail.recipient == ADDRESS
        assert [(i.type, i.value) for i in mail.identifiers] == [("email", ADDRESS)]
        assert mail.content.subject == "Hello {{ traits.first_name }}"
        assert mail.data["offer"] == "10% off"
        assert [c.status for c in mail.message.status_history] == ["QUEUED", "SENT"]
        app = by_name[inbox.name]
        assert app.recipient == CUSTOMER
        assert app.inbox_message.text_body == "Hi Ada"
        assert by_name[pending.name].recipient == ""

        erased = await running.stub.EraseCustomerMessages(
            pb.EraseCustomerMessagesRequest(parent=CUSTOMER)
        )
        assert (erased.erased_message_count, erased.cancelled_message_count) == (3, 1)
        again = await running.stub.EraseCustomerMessages(
            pb.EraseCustomerMessagesRequest(parent=CUSTOMER)
        )
        assert (again.erased_message_count, again.cancelled_message_count) == (0, 0)

        after = await _export_all(running, page_size=50)
        assert len(after) == 3
        for item in after:
            assert item.message.HasField("erase_time")
            assert (item.recipient, item.content.subject, item.content.text_body) == ("", "", "")
            assert not item.data.fields and not item.HasField("inbox_message")
            assert not item.identifiers
        cancelled = {e.message.name: e.message for e in after}[pending.name]
        assert (cancelled.state, cancelled.failure_reason) == (
            pb.MESSAGE_STATE_CANCELLED,
            "CUSTOMER_ERASED",
        )
        # Tombstones keep idempotency: the same key answers with the same message.
        replay = await running.stub.SendMessage(send_request("k-1"))
        assert replay.name == first.name
        listed = await running.stub.ListInboxMessages(pb.ListInboxMessagesRequest(parent=CUSTOMER))
        assert list(listed.inbox_messages) == []
        # The other customer keeps everything.
        kept = await running.stub.ExportCustomerMessages(
            pb.ExportCustomerMessagesRequest(parent=OTHER_CUSTOMER)
        )
        [theirs] = kept.messages
        assert theirs.recipient == "bob@example.com" and theirs.content.text_body
