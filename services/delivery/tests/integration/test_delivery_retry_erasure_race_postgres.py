"""RetryMessage racing EraseCustomerMessages on PostgreSQL (read committed).

RetryMessage reads the dead letter, then stores it queued again. An erasure committed
in between redacts it (a dead letter is not cancelled: it is not pending): the replay
must not queue the redacted message, which would go out, empty, to the erased customer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from rapport.delivery.adapters.message_repository import MessageRepository
from rapport.delivery.adapters.providers import Provider, ProviderTransientError
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import Channel, MessageState, RetryPolicy
from rapport.delivery.service_layer import commands, messages, subject_requests
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.dispatcher import Dispatcher
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.errors import FailedPrecondition
from rapport.grpctesting import HeldAfterRead
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate

from .._delivery_support import (
    Clock,
    FakeEmailProvider,
    InMemoryConsentClient,
    InMemoryProfileClient,
)
from ..unit.test_delivery_service_layer import CUSTOMER, command


@asynccontextmanager
async def _deps(url: str, schema: str, provider: Provider) -> AsyncIterator[Dependencies]:
    engine = create_engine(url, schema=schema)
    await migrate(engine, MIGRATIONS_DIR, schema=schema)

    def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly)

    consents = InMemoryConsentClient()
    consents.set(CUSTOMER, "marketing", Channel.EMAIL, True)
    try:
        yield Dependencies(
            uow_factory=uow_factory,
            workspaces=frozenset({"default"}),
            profiles=InMemoryProfileClient({CUSTOMER: {"email": "ada@example.com", "name": "Ada"}}),
            consents=consents,
            providers={Channel.EMAIL: [provider]},
            retry_policy=RetryPolicy(max_attempts=1, base_seconds=1.0),
            page_tokens=PageTokens(None),
            clock=Clock(),
            uniform=lambda: 1.0,
        )
    finally:
        await engine.dispose()


async def test_a_dead_letter_erased_while_it_is_replayed_stays_erased(
    postgres_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = FakeEmailProvider()
    provider.failures = [ProviderTransientError("smtp 421")]
    async with _deps(postgres_url, pg_schema, provider) as deps:
        dispatcher = Dispatcher(deps)
        message = await messages.send_message(command(), deps)
        assert await dispatcher.dispatch_due() == 1
        dead = await messages.get_message(commands.GetMessage(message.name), deps)
        assert dead.state is MessageState.DEAD_LETTERED, (dead.state, dead.last_error)
        read = HeldAfterRead(monkeypatch, MessageRepository, "get", armed=False, hold_empty=True)

        read.armed = True
        replay = asyncio.create_task(
            messages.retry_message(commands.RetryMessage(name=message.name), deps)
        )
        await asyncio.wait_for(read.reached.wait(), 10)
        erased = await subject_requests.erase_customer_messages(
            commands.EraseCustomerMessages(parent=CUSTOMER), deps
        )
        assert (erased.erased, erased.cancelled) == (1, 0)
        read.release.set()

        with pytest.raises(FailedPrecondition) as refused:
            await asyncio.wait_for(replay, 10)
        assert refused.value.reason == "MESSAGE_ERASED"
        assert await dispatcher.dispatch_due() == 0
        stored = await messages.get_message(commands.GetMessage(message.name), deps)
    assert stored.state is MessageState.DEAD_LETTERED and stored.erase_time is not None
    assert provider.sent == []
