"""Background work that reads, then acts later: a change committed in between is honoured.

- The dispatcher claims a message, reads the profile, ..., calls the provider: an
  EraseCustomerMessages committed meanwhile cancelled the message (and took its lease),
  so the provider is not called.
- The consent follower asks consent whether an opt-out still holds, then cancels the
  customer's queued messages: a message queued after it asked (the customer opted in
  again meanwhile) is not one the opt-out forbade, and is not cancelled.
- RetryMessage never replays an erased dead letter (it would go out redacted to the
  erased customer); the race with an erasure on PostgreSQL is in
  integration/test_delivery_retry_erasure_race_postgres.py.

Each test holds the first read (SQLite, service layer) while the change commits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rapport.delivery.adapters.consent_feed import ConsentChange
from rapport.delivery.adapters.providers import ProviderTransientError
from rapport.delivery.domain.model import Channel, MessageState
from rapport.delivery.service_layer import commands, messages, subject_requests
from rapport.delivery.service_layer.consent_follower import ConsentFollower
from rapport.errors import FailedPrecondition
from rapport.grpctesting import HeldAfterRead

from .._delivery_support import InMemoryConsentClient, InMemoryProfileClient
from .test_delivery_queue_machine import NoFeed
from .test_delivery_service_layer import CUSTOMER, command, harness


async def test_a_message_erased_during_its_attempt_is_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(tmp_path) as h:
        message = await h.send(command())
        profile_read = HeldAfterRead(
            monkeypatch, InMemoryProfileClient, "get_profile", hold_empty=True
        )
        attempt = asyncio.create_task(h.dispatcher.dispatch_due())
        await asyncio.wait_for(profile_read.reached.wait(), 10)

        erased = await subject_requests.erase_customer_messages(
            commands.EraseCustomerMessages(parent=CUSTOMER), h.deps
        )
        assert (erased.erased, erased.cancelled) == (1, 1)
        profile_read.release.set()
        await asyncio.wait_for(attempt, 10)

        assert h.provider.sent == []
        stored = await h.get(message.name)
    assert (stored.state, stored.failure_reason) == (MessageState.CANCELLED, "CUSTOMER_ERASED")
    assert stored.recipient == "" and stored.erase_time is not None


async def test_an_opt_out_cancels_no_message_queued_after_consent_was_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(tmp_path) as h:
        before = await h.send(command("before"))
        h.consents.set(CUSTOMER, "marketing", Channel.EMAIL, False)
        follower = ConsentFollower(h.deps, NoFeed())
        consent_read = HeldAfterRead(monkeypatch, InMemoryConsentClient, "check", hold_empty=True)
        opt_out = ConsentChange(
            cursor=1, customer=CUSTOMER, purpose="marketing", channel=Channel.EMAIL, denied=True
        )
        handling = asyncio.create_task(follower.handle("default", opt_out))
        await asyncio.wait_for(consent_read.reached.wait(), 10)

        # The customer opts in again, and a message is queued for them.
        h.consents.set(CUSTOMER, "marketing", Channel.EMAIL, True)
        after = await h.send(command("after"))
        consent_read.release.set()
        cancelled = await asyncio.wait_for(handling, 10)

        assert cancelled == [before.id]
        assert await h.dispatcher.dispatch_due() == 1
        stored = await h.get(after.name)
    assert stored.state is MessageState.SENT
    assert [sent.message_name for sent in h.provider.sent] == [after.name]


async def test_an_erased_dead_letter_is_not_replayed(tmp_path: Path) -> None:
    async with harness(tmp_path, max_attempts=1) as h:
        h.provider.failures = [ProviderTransientError("smtp 421")]
        message = await h.send(command())
        assert await h.dispatcher.dispatch_due() == 1
        assert (await h.get(message.name)).state is MessageState.DEAD_LETTERED
        await subject_requests.erase_customer_messages(
            commands.EraseCustomerMessages(parent=CUSTOMER), h.deps
        )

        with pytest.raises(FailedPrecondition) as refused:
            await messages.retry_message(commands.RetryMessage(name=message.name), h.deps)
        assert refused.value.reason == "MESSAGE_ERASED"
        assert await h.dispatcher.dispatch_due() == 0
        stored = await h.get(message.name)
    assert stored.state is MessageState.DEAD_LETTERED and h.provider.sent == []
