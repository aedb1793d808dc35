"""Service layer with in-memory fakes (profile, consent, provider) on a throwaway SQLite file."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.delivery.adapters.cap_store import CapStore, CapStoreUnavailable
from rapport.delivery.adapters.providers import (
    Provider,
    ProviderRejectedError,
    ProviderTransientError,
)
from rapport.delivery.adapters.tables import messages as messages_table
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.consent import ConsentAnswer
from rapport.delivery.domain.frequency_caps import CapPolicy, CapRule
from rapport.delivery.domain.model import (
    Channel,
    Message,
    MessageContent,
    MessageState,
    RetryPolicy,
)
from rapport.delivery.domain.policy import SendingPolicy
from rapport.delivery.service_layer import commands, messages
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.dispatcher import Dispatcher
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.errors import FailedPrecondition, InvalidArgument
from rapport.grpctesting import eventually
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate

from .._delivery_support import (
    Clock,
    FakeEmailProvider,
    InMemoryConsentClient,
    InMemoryProfileClient,
)

CUSTOMER = "workspaces/default/customers/c1"


class CountingEvent(asyncio.Event):
    """The dispatcher's wake-up, counting how often it was set and waited for."""

    def __init__(self) -> None:
        super().__init__()
        self.sets = 0
        self.waits = 0

    def set(self) -> None:
        self.sets += 1
        super().set()

    async def wait(self) -> Literal[True]:
        self.waits += 1
        return await super().wait()


@dataclass
class Harness:
    dispatcher: Dispatcher
    deps: Dependencies
    providers: dict[Channel, list[Provider]]
    profiles: InMemoryProfileClient
    consents: InMemoryConsentClient
    provider: FakeEmailProvider
    clock: Clock
    wakeup: CountingEvent

    async def send(self, cmd: commands.SendMessage) -> Message:
        return await messages.send_message(cmd, self.deps)

    async def get(self, name: str) -> Message:
        return await messages.get_message(commands.GetMessage(name), self.deps)


@asynccontextmanager
async def harness(directory: Path, *, max_attempts: int = 3) -> AsyncIterator[Harness]:
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'delivery.db'}")
    await migrate(engine, MIGRATIONS_DIR)

    def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly)

    profiles = InMemoryProfileClient({CUSTOMER: {"email": "ada@example.com", "name": "Ada"}})
    consents = InMemoryConsentClient()
    consents.set(CUSTOMER, "marketing", Channel.EMAIL, True)
    provider = FakeEmailProvider()
    providers: dict[Channel, list[Provider]] = {Channel.EMAIL: [provider]}
    clock = Clock()
    wakeup = CountingEvent()
    deps = Dependencies(
        uow_factory=uow_factory,
        workspaces=frozenset({"default"}),
        profiles=profiles,
        consents=consents,
        providers=providers,
        retry_policy=RetryPolicy(max_attempts=max_attempts, base_seconds=1.0),
        page_tokens=PageTokens(None),
        dispatch_wakeup=wakeup,
        clock=clock,
        uniform=lambda: 1.0,  # jitter at its ceiling: the backoff times are exact
    )
    dispatcher = Dispatcher(deps)
    try:
        yield Harness(dispatcher, deps, providers, profiles, consents, provider, clock, wakeup)
    finally:
        await engine.dispose()


def command(key: str = "k", **overrides: Any) -> commands.SendMessage:
    cmd = commands.SendMessage(
        parent="workspaces/default",
        idempotency_key=key,
        customer=CUSTOMER,
        purpose="marketing",
        channel=Channel.EMAIL,
        content=MessageContent("Hi {{ traits.name }}", "Body {{ data.n }}"),
        data={"n": 1},
    )
    return replace(cmd, **overrides)


async def test_send_queues_wakes_and_dispatch_sends(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        message = await h.send(command())
        assert message.state is MessageState.QUEUED and h.wakeup.sets == 1
        assert await h.dispatcher.dispatch_due() == 1
        stored = await h.get(message.name)
    assert stored.state is MessageState.SENT and stored.attempt_count == 1
    assert stored.provider == "fake" and stored.provider_message_id.startswith("<fake-")
    [sent] = h.provider.sent
    assert (sent.to, sent.subject) == ("ada@example.com", "Hi Ada")
    # A marketing mail: the body, then its unsubscribe link, also in the RFC 8058 headers.
    body, link = sent.text_body.split("\n\n--\nUnsubscribe: ")
    assert body == "Body 1"
    assert sent.headers == {
        "X-Rapport-Message": message.name,
        "List-Unsubscribe": f"<{link.strip()}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


async def test_transient_failures_back_off_then_dead_letter(tmp_path: Path) -> None:
    async with harness(tmp_path, max_attempts=3) as h:
        h.provider.failures = [ProviderTransientError("smtp 421")] * 3
        message = await h.send(command())
        assert await h.dispatcher.dispatch_due() == 1
        first = await h.get(message.name)
        assert first.state is MessageState.QUEUED
        assert first.next_attempt_time == h.clock.now + timedelta(seconds=1)
        assert await h.dispatcher.dispatch_due() == 0  # not due yet
        h.clock.advance(1)
        assert await h.dispatcher.dispatch_due() == 1
        second = await h.get(message.name)
        assert second.next_attempt_time == h.clock.now + timedelta(seconds=2)
        h.clock.advance(2)
        await h.dispatcher.dispatch_due()
        last = await h.get(message.name)
    assert (last.state, last.failure_reason, last.attempt_count) == (
        MessageState.DEAD_LETTERED,
        "RETRIES_EXHAUSTED",
        3,
    )
    assert h.provider.calls == 3


async def test_definite_rejection_is_not_retried(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.provider.failures = [ProviderRejectedError("smtp 550")]
        message = await h.send(command())
        await h.dispatcher.dispatch_due()
        h.clock.advance(3600)
        assert await h.dispatcher.dispatch_due() == 0
        stored = await h.get(message.name)
    assert (stored.state, stored.failure_reason) == (MessageState.FAILED, "PROVIDER_REJECTED")


async def test_upstreams_unavailable_are_transient(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        message = await h.send(command())
        h.consents.unavailable = True
        await h.dispatcher.dispatch_due()
        assert (await h.get(message.name)).state is MessageState.QUEUED
        assert h.provider.calls == 0  # never sent without a consent answer
        h.consents.unavailable = False
        h.profiles.unavailable = True
        h.clock.advance(1)
        await h.dispatcher.dispatch_due()
        assert (await h.get(message.name)).state is MessageState.QUEUED
        h.profiles.unavailable = False
        h.clock.advance(2)
        await h.dispatcher.dispatch_due()
        assert (await h.get(message.name)).state is MessageState.SENT


async def test_consent_is_checked_at_dispatch_not_at_queueing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        message = await h.send(command())
        h.consents.set(CUSTOMER, "marketing", Channel.EMAIL, False)  # opt-out after queueing
        await h.dispatcher.dispatch_due()
        stored = await h.get(message.name)
    assert (stored.state, stored.failure_reason) == (MessageState.SUPPRESSED, "CONSENT_DENIED")
    assert h.provider.calls == 0


async def test_a_leased_message_is_not_claimed_twice(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.send(command())
        async with h.deps.uow_factory() as uow:
            claimed = await uow.messages.claim_due(
                now=h.clock(),
                limit=10,
                lease_token="a" * 32,
                lease_expire_time=h.clock() + timedelta(seconds=60),
            )
            await uow.commit()
        assert len(claimed) == 1
        assert await h.dispatcher.dispatch_due() == 0  # someone else holds the lease
        h.clock.advance(61)  # that dispatcher died: the lease expires, the message is retried
        assert await h.dispatcher.dispatch_due() == 1
    assert h.provider.calls == 1


async def test_reused_key_with_other_payload_is_refused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        first = await h.send(command("k"))
        with pytest.raises(FailedPrecondition) as caught:
            await h.send(command("k", purpose="renewals"))
        assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"
        assert (await h.send(command("k"))).name == first.name


async def test_the_fingerprint_comes_from_the_decoded_command(tmp_path: Path) -> None:
    data = {"offer": {"code": "X", "percent": 10}, "tags": ["a", "b"]}
    reordered = {"tags": ["a", "b"], "offer": {"percent": 10, "code": "X"}}
    async with harness(tmp_path) as h:
        first = await h.send(command("k", data=data))
        # The same payload (keys in another order) is a replay: same message, nothing new.
        again = await h.send(command("k", data=reordered))
        assert (again.name, again.payload_fingerprint) == (first.name, first.payload_fingerprint)
        for changed in (
            {"data": {**data, "tags": ["a"]}},
            {"content": MessageContent("Hi", "Body {{ data.n }}")},
            {"source": "workspaces/default/triggers/other"},
            {"customer": "workspaces/default/customers/c2"},
        ):
            with pytest.raises(FailedPrecondition) as caught:
                await h.send(command("k", **{"data": data, **changed}))
            assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED", changed
            assert caught.value.metadata == {"message": first.name}
    assert h.wakeup.sets == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": None}, "channel"),
        ({"channel": Channel.INBOUND}, "channel"),
        ({"data": {"x": [1, float("nan")]}}, "data"),
        ({"data": {"x": {"y": float("inf")}}}, "data"),
    ],
)
async def test_bad_commands_are_refused_naming_the_field(
    tmp_path: Path, overrides: dict[str, Any], field: str
) -> None:
    async with harness(tmp_path) as h:
        with pytest.raises(InvalidArgument) as caught:
            await h.send(command(**overrides))
        page = await messages.list_messages(
            commands.ListMessages(parent="workspaces/default"), h.deps
        )
    assert caught.value.field == field
    assert page.messages == [] and h.wakeup.sets == 0


# Invariant: N submissions of one idempotency key cause exactly one provider call.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    repeats=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=5),
    shuffle_seed=st.randoms(use_true_random=False),
)
def test_each_key_causes_exactly_one_provider_call(repeats: list[int], shuffle_seed) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory:
            async with harness(Path(directory)) as h:
                submissions = [
                    command(f"key-{i}") for i, count in enumerate(repeats) for _ in range(count)
                ]
                shuffle_seed.shuffle(submissions)
                accepted = await asyncio.gather(*(h.send(cmd) for cmd in submissions))
                # Replays between dispatches change nothing either.
                await h.dispatcher.dispatch_due()
                replayed = await asyncio.gather(*(h.send(cmd) for cmd in submissions))
                await h.dispatcher.dispatch_due()
                names_by_key: dict[str, set[str]] = {}
                for message in [*accepted, *replayed]:
                    names_by_key.setdefault(message.idempotency_key, set()).add(message.name)
                assert all(len(names) == 1 for names in names_by_key.values())
                assert len(names_by_key) == len(repeats)
                assert h.provider.calls == len(repeats)
                sent_to = sorted(e.headers["X-Rapport-Message"] for e in h.provider.sent)
                assert sent_to == sorted(n for names in names_by_key.values() for n in names)

    asyncio.run(scenario())


class BlockingProvider(FakeEmailProvider):
    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def send(self, email_to_send):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.entered.set()
        await asyncio.Event().wait()  # a provider that never answers
        raise AssertionError("unreachable")


async def test_shutdown_hands_in_flight_messages_back(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        blocking = BlockingProvider()
        h.providers[Channel.EMAIL] = [blocking]
        message = await h.send(command())
        running = asyncio.create_task(h.dispatcher.run())
        await asyncio.wait_for(blocking.entered.wait(), 5)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        # Released, not left leased: due again at once (no wait for the lease to expire).
        h.providers[Channel.EMAIL] = [h.provider]
        assert await h.dispatcher.dispatch_due() == 1
        stored = await h.get(message.name)
    assert stored.state is MessageState.SENT and stored.attempt_count == 2


async def test_a_stop_that_comes_with_a_wake_up_still_stops_the_dispatcher(
    tmp_path: Path,
) -> None:
    # Python 3.11's asyncio.wait_for swallowed a cancellation that came as the wake-up
    # was set (a server stopping as an attempt ended): the dispatcher polled on and the
    # server's stop waited for it forever.
    async with harness(tmp_path) as h:
        dispatcher = Dispatcher(h.deps, poll_seconds=30)
        running = asyncio.create_task(dispatcher.run())
        try:
            await eventually(lambda: h.wakeup.waits == 1, timeout=5)  # idle, waiting
            h.wakeup.set()
            running.cancel()
            done, _ = await asyncio.wait({running}, timeout=2)
            assert done == {running} and running.cancelled()
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_a_slow_send_does_not_block_the_others(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        blocking = BlockingProvider()
        sends: list[str] = []

        class Router(FakeEmailProvider):
            async def send(self, email_to_send):  # type: ignore[no-untyped-def]
                if not sends:
                    sends.append("slow")
                    return await blocking.send(email_to_send)
                sends.append("fast")
                return await h.provider.send(email_to_send)

        h.providers[Channel.EMAIL] = [Router()]
        messages = [await h.send(command(f"k{i}")) for i in range(3)]
        running = asyncio.create_task(h.dispatcher.run())
        try:
            await eventually(lambda: len(h.provider.sent) == 2, timeout=5)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        states = [(await h.get(m.name)).state for m in messages]
    assert sorted(states) == [MessageState.QUEUED, MessageState.SENT, MessageState.SENT]


class ExplodingConsents(InMemoryConsentClient):
    """A consent client with a bug that shows for one customer only."""

    def __init__(self, broken_for: str) -> None:
        super().__init__()
        self.broken_for = broken_for

    async def check(self, customer: str, purpose: str, channel: Channel) -> ConsentAnswer:
        if customer == self.broken_for:
            raise RuntimeError("a bug")
        return await super().check(customer, purpose, channel)


async def test_an_unexpected_error_is_retried_for_that_message_alone(tmp_path: Path) -> None:
    other = "workspaces/default/customers/c2"
    async with harness(tmp_path, max_attempts=2) as h:
        consents = ExplodingConsents(broken_for=CUSTOMER)
        consents.set(other, "marketing", Channel.EMAIL, True)
        h.profiles.profiles[other] = {"email": "bob@example.com", "name": "Bob"}
        deps = replace(h.deps, consents=consents)
        dispatcher = Dispatcher(deps)
        broken = await messages.send_message(command("a"), deps)
        fine = await messages.send_message(command("b", customer=other), deps)
        assert await dispatcher.dispatch_due() == 2
        first = await h.get(broken.name)
        assert (first.state, first.next_attempt_time) == (
            MessageState.QUEUED,
            h.clock.now + timedelta(seconds=1),
        )
        assert (await h.get(fine.name)).state is MessageState.SENT
        h.clock.advance(1)
        assert await dispatcher.dispatch_due() == 1
        last = await h.get(broken.name)
    assert (last.state, last.failure_reason, last.attempt_count) == (
        MessageState.DEAD_LETTERED,
        "RETRIES_EXHAUSTED",
        2,
    )
    assert [e.to for e in h.provider.sent] == ["bob@example.com"]


async def test_a_channel_without_provider_waits_for_one(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        message = await h.send(command())
        h.providers.clear()  # e.g. a replica whose configuration lacks the channel
        await h.dispatcher.dispatch_due()
        waiting = await h.get(message.name)
        # Not even claimed (no lane for the channel): left for a replica that has it.
        assert (waiting.state, waiting.attempt_count) == (MessageState.QUEUED, 0)
        h.providers[Channel.EMAIL] = [h.provider]
        h.clock.advance(1)
        await h.dispatcher.dispatch_due()
        assert (await h.get(message.name)).state is MessageState.SENT


async def test_corrupt_stored_data_fails_that_message_only(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        corrupt = await h.send(command("corrupt"))
        fine = await h.send(command("fine"))
        async with h.deps.uow_factory() as uow:
            await uow.connection.execute(
                messages_table.update()
                .where(messages_table.c.id == corrupt.id)
                .values(data="{truncated")
            )
            await uow.commit()
        assert await h.dispatcher.dispatch_due() == 2
        failed = await h.get(corrupt.name)
        assert failed.data is None
        assert (failed.state, failed.failure_reason) == (
            MessageState.FAILED,
            "STORED_MESSAGE_UNREADABLE",
        )
        assert (await h.get(fine.name)).state is MessageState.SENT
    assert h.provider.calls == 1


class UnavailableCapStore(CapStore):
    async def reserve(self, reservation: Any, rules: Any, others: Any) -> Any:
        raise CapStoreUnavailable("ConnectionError")

    async def release(self, *args: Any) -> None:
        raise CapStoreUnavailable("ConnectionError")


async def test_when_cap_counts_cannot_be_read_the_message_waits(tmp_path: Path) -> None:
    # Never out uncounted: the message is retried, and dead-lettered in the end.
    async with harness(tmp_path, max_attempts=2) as h:
        policy = SendingPolicy(caps=CapPolicy((CapRule(limit=1, window=timedelta(days=1)),)))
        deps = replace(h.deps, policy=policy, caps=UnavailableCapStore())
        dispatcher = Dispatcher(deps)
        message = await messages.send_message(command(), deps)
        await dispatcher.dispatch_due()
        first = await h.get(message.name)
        h.clock.advance(60)
        await dispatcher.dispatch_due()
        last = await h.get(message.name)
    assert (first.state, first.attempt_count) == (MessageState.QUEUED, 1)
    assert (last.state, last.failure_reason) == (MessageState.DEAD_LETTERED, "RETRIES_EXHAUSTED")
    assert h.provider.sent == []
