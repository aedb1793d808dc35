"""An erased customer's idempotency keys keep no personal data, and still work: after
EraseCustomerMessages no method returns the key and no table holds it (each copy is a
keyed digest), while a resubmission of the key within its window is still the duplicate
it is (answered with the erased message, showing the digest; nothing sent again), on
SQLite and on PostgreSQL, across a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message as ProtoMessage
from rapport.delivery.adapters.tables import idempotency_keys, metadata
from rapport.delivery.domain.erased_keys import ERASED_KEY_PREFIX
from rapport.delivery.settings import DeliverySettings
from rapport.delivery.v1 import delivery_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine
from sqlalchemy import select

from .._delivery_support import CUSTOMER, Clock, assert_refused, delivery, send_request

# A key built from personal data, as senders often build them.
RAW_KEY = "receipt-ada@example.com-2026-12"
DAY = 24 * 3600


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings of the database the test runs on."""
    if request.param == "sqlite":
        return {}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "database_schema": request.getfixturevalue("pg_schema"),
    }


def _engine(settings: DeliverySettings) -> Any:
    return create_engine(settings.database_url_or_default(), schema=settings.database_schema)


async def _stored_texts(settings: DeliverySettings) -> list[str]:
    """Every value of every row of every delivery table, as text."""
    engine = _engine(settings)
    try:
        async with engine.connect() as conn:
            texts = []
            for table in metadata.sorted_tables:
                for row in (await conn.execute(select(table))).all():
                    texts.extend(str(value) for value in row)
            return texts
    finally:
        await engine.dispose()


async def _stored_keys(settings: DeliverySettings) -> list[str]:
    engine = _engine(settings)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(idempotency_keys.c.idempotency_key))).scalars())
    finally:
        await engine.dispose()


def _without_raw_key(*answers: ProtoMessage) -> None:
    for answer in answers:
        assert RAW_KEY.encode() not in answer.SerializeToString(), type(answer).__name__


async def test_after_erasure_no_method_nor_table_holds_the_key_and_it_stays_a_duplicate(
    make_settings: Any, smtp: Any, upstreams: Any, database: dict[str, Any]
) -> None:
    upstreams.profile.traits[CUSTOMER] = {"email": "ada@example.com", "first_name": "Ada"}
    upstreams.consent.grant(CUSTOMER)
    settings = make_settings(**database)
    async with delivery(settings) as stub:
        first = await stub.SendMessage(send_request(RAW_KEY))
        assert first.idempotency_key == RAW_KEY

        async def sent() -> bool:
            message = await stub.GetMessage(pb.GetMessageRequest(name=first.name))
            return message.state == pb.MESSAGE_STATE_SENT

        await eventually(sent, timeout=10)
        erased = await stub.EraseCustomerMessages(pb.EraseCustomerMessagesRequest(parent=CUSTOMER))
        assert erased.erased_message_count == 1

        got = await stub.GetMessage(
            pb.GetMessageRequest(name=first.name, view=pb.MESSAGE_VIEW_FULL)
        )
        digest = got.idempotency_key
        assert digest.startswith(ERASED_KEY_PREFIX) and len(digest) == len(ERASED_KEY_PREFIX) + 64
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
        theirs = await stub.ListMessages(
            pb.ListMessagesRequest(parent="workspaces/default", customer=CUSTOMER)
        )
        exported = await stub.ExportCustomerMessages(
            pb.ExportCustomerMessagesRequest(parent=CUSTOMER)
        )
        assert [m.idempotency_key for m in listed.messages] == [digest]
        assert [m.idempotency_key for m in theirs.messages] == [digest]
        assert [e.message.idempotency_key for e in exported.messages] == [digest]
        _without_raw_key(got, listed, theirs, exported)
    assert not [text for text in await _stored_texts(settings) if RAW_KEY in text]

    # A restart (the digest's secret is kept in the database, not in the process).
    async with delivery(settings) as stub:
        replay = await stub.SendMessage(send_request(RAW_KEY))
        batch = await stub.BatchSendMessages(
            pb.BatchSendMessagesRequest(
                parent="workspaces/default", requests=[send_request(RAW_KEY)]
            )
        )
        assert replay.name == first.name and replay.idempotency_key == digest
        assert [m.name for m in batch.messages] == [first.name]
        _without_raw_key(replay, batch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request(RAW_KEY, purpose="renewals"))
        assert_refused(caught.value, "FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED", None)
        await asyncio.sleep(0.3)  # several dispatcher polls: nothing more goes out
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert [m.name for m in listed.messages] == [first.name]
    assert len(smtp.received) == 1
    assert await _stored_keys(settings) == [digest]


async def test_an_erased_key_makes_a_new_message_once_it_expired(make_settings: Any) -> None:
    clock = Clock()
    settings = make_settings(dispatcher_enabled=False, idempotency_window_seconds=DAY)
    async with delivery(settings, clock=clock) as stub:
        first = await stub.SendMessage(send_request(RAW_KEY))
        await stub.EraseCustomerMessages(pb.EraseCustomerMessagesRequest(parent=CUSTOMER))
        clock.advance(DAY - 1)
        assert (await stub.SendMessage(send_request(RAW_KEY))).name == first.name
        clock.advance(1)
        second = await stub.SendMessage(send_request(RAW_KEY))
        assert second.name != first.name and second.idempotency_key == RAW_KEY
        # The key, stored as given again, answers with the new message.
        assert (await stub.SendMessage(send_request(RAW_KEY))).name == second.name
    assert await _stored_keys(settings) == [RAW_KEY]


async def test_a_key_of_the_erased_form_is_refused(make_settings: Any) -> None:
    reserved = ERASED_KEY_PREFIX + "0" * 64
    async with delivery(make_settings(dispatcher_enabled=False)) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SendMessage(send_request(reserved))
        assert_refused(caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "idempotency_key")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.BatchSendMessages(
                pb.BatchSendMessagesRequest(
                    parent="workspaces/default", requests=[send_request(reserved)]
                )
            )
        assert_refused(
            caught.value, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "requests[0].idempotency_key"
        )
        listed = await stub.ListMessages(pb.ListMessagesRequest(parent="workspaces/default"))
    assert not listed.messages
