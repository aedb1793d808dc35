"""The durable queue as a Hypothesis state machine over the service layer (SQLite, in-memory
profile and consent, a provider that can be down): opt-in, opt-out (followed by the
cancel-on-revoke component or not), send, dispatch, provider outages, dead letters and
their replay. Whatever the order, no provider call ever happens while the customer's
opt-out is the committed consent, and no message goes out twice.

Also: the state filter of ListMessages, the token bucket and the per-provider limiter,
and the follower's handling of one ledger entry."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from rapport.delivery.adapters.consent_feed import ConsentChange, ConsentFeed
from rapport.delivery.adapters.providers import OutgoingMessage, Provider, ProviderUnavailable
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.message_filter import parse_state_filter
from rapport.delivery.domain.model import Channel, MessageContent, MessageState, RetryPolicy
from rapport.delivery.domain.rate_limit import TokenBucket
from rapport.delivery.service_layer import commands, limits, messages
from rapport.delivery.service_layer.consent_follower import ConsentFollower
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.dispatcher import Dispatcher
from rapport.delivery.service_layer.limits import Limiter, ProviderLimit
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.errors import FailedPrecondition, InvalidArgument
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate

from .._delivery_support import Clock, InMemoryConsentClient, InMemoryProfileClient

CUSTOMER = "workspaces/default/customers/c1"
KEY = (CUSTOMER, "marketing", Channel.EMAIL)


class WatchfulProvider(Provider):
    """Records, for every call, whether the customer's committed consent allowed it."""

    name = "watchful"

    def __init__(self, consents: InMemoryConsentClient) -> None:
        self._consents = consents
        self.down = False
        self.calls: list[tuple[str, bool]] = []  # (message id, allowed at the call)
        self.taken: list[str] = []

    async def send(self, outgoing: OutgoingMessage) -> str:
        self.calls.append((outgoing.idempotency_key, self._consents.decisions.get(KEY, False)))
        if self.down:
            raise ProviderUnavailable("connection refused")
        self.taken.append(outgoing.idempotency_key)
        return f"<{outgoing.idempotency_key}@test>"


class NoFeed(ConsentFeed):
    """The machine hands ledger entries to the follower itself."""

    async def changes(self, workspace: str, *, after: int) -> AsyncIterator[ConsentChange]:
        for change in ():
            yield change


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = tempfile.TemporaryDirectory()
        self.engine = create_engine(
            f"sqlite+aiosqlite:///{Path(self.directory.name) / 'delivery.db'}"
        )
        self.run(migrate(self.engine, MIGRATIONS_DIR))
        engine = self.engine

        def uow_factory(*, readonly: bool = False) -> DeliveryUnitOfWork:
            return DeliveryUnitOfWork(engine, readonly=readonly)

        self.consents = InMemoryConsentClient()
        self.provider = WatchfulProvider(self.consents)
        self.clock = Clock()
        self.deps = Dependencies(
            uow_factory=uow_factory,
            workspaces=frozenset({"default"}),
            profiles=InMemoryProfileClient({CUSTOMER: {"email": "ada@example.com"}}),
            consents=self.consents,
            providers={Channel.EMAIL: [self.provider]},
            retry_policy=RetryPolicy(max_attempts=2, base_seconds=1.0, max_delay_seconds=10),
            page_tokens=PageTokens(None),
            clock=self.clock,
        )
        self.dispatcher = Dispatcher(self.deps)
        self.follower = ConsentFollower(self.deps, NoFeed())
        self.cursor = 0
        self.sent_keys = 0

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()
        self.directory.cleanup()

    def _record(self, allowed: bool, follow: bool) -> None:
        self.consents.set(*KEY, allowed)  # committed in consent
        self.cursor += 1
        if follow:
            change = ConsentChange(self.cursor, CUSTOMER, "marketing", Channel.EMAIL, not allowed)
            self.run(self.follower.handle("default", change))

    @rule()
    def opt_in(self) -> None:
        self._record(True, follow=True)

    @rule(follow=st.booleans())
    def opt_out(self, follow: bool) -> None:
        self._record(False, follow)

    @rule()
    def send(self) -> None:
        self.sent_keys += 1
        cmd = commands.SendMessage(
            parent="workspaces/default",
            idempotency_key=f"k{self.sent_keys}",
            customer=CUSTOMER,
            purpose="marketing",
            channel=Channel.EMAIL,
            content=MessageContent("Hi", "Body"),
            data={},
        )
        self.run(messages.send_message(cmd, self.deps))

    @rule(down=st.booleans())
    def provider_outage(self, down: bool) -> None:
        self.provider.down = down

    @rule()
    def dispatch(self) -> None:
        self.clock.advance(20)  # past any backoff
        self.run(self.dispatcher.dispatch_due())

    @rule()
    def replay_dead_letters(self) -> None:
        page = self.run(
            messages.list_messages(
                commands.ListMessages(
                    parent="workspaces/default", page_size=1000, filter="state = DEAD_LETTERED"
                ),
                self.deps,
            )
        )
        for message in page.messages:
            assert message.state is MessageState.DEAD_LETTERED
            assert message.last_error
            replayed = self.run(
                messages.retry_message(commands.RetryMessage(message.name), self.deps)
            )
            assert (replayed.state, replayed.attempt_count) == (MessageState.QUEUED, 0)

    @rule()
    def replay_something_else(self) -> None:
        page = self.run(
            messages.list_messages(
                commands.ListMessages(parent="workspaces/default", filter="state = SENT"),
                self.deps,
            )
        )
        for message in page.messages[:1]:
            with pytest.raises(FailedPrecondition):
                self.run(messages.retry_message(commands.RetryMessage(message.name), self.deps))

    @invariant()
    def never_dispatched_while_opted_out(self) -> None:
        assert all(allowed for _, allowed in self.provider.calls), self.provider.calls

    @invariant()
    def never_sent_twice(self) -> None:
        assert len(self.provider.taken) == len(set(self.provider.taken))


QueueMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueMachine = QueueMachine.TestCase


# --- the ListMessages filter ---------------------------------------------------------------


def test_state_filters_it_reads() -> None:
    assert parse_state_filter("") == ()
    assert parse_state_filter("state = DEAD_LETTERED") == (MessageState.DEAD_LETTERED,)
    assert parse_state_filter('state="MESSAGE_STATE_SENT"') == (MessageState.SENT,)
    assert parse_state_filter(" (state = queued OR state = SCHEDULED OR state=QUEUED) ") == (
        MessageState.QUEUED,
        MessageState.SCHEDULED,
    )


@given(st.text(max_size=80))
def test_any_other_filter_is_invalid_argument_on_filter(text: str) -> None:
    try:
        states = parse_state_filter(text)
    except InvalidArgument as err:
        assert err.field == "filter"
    else:
        assert all(isinstance(state, MessageState) for state in states)


# --- limits --------------------------------------------------------------------------------


@given(
    st.floats(min_value=0.1, max_value=1000),
    st.integers(min_value=1, max_value=20),
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60),
)
def test_a_token_bucket_never_allows_more_than_burst_plus_rate(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate, float(burst))
    now, taken = 0.0, 0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait == 0:
            taken += 1
        else:
            assert wait > 0
    assert taken <= burst + rate * now + 1e-6


async def test_a_limiter_holds_calls_in_flight_to_its_concurrency() -> None:
    limiter = Limiter(ProviderLimit(max_concurrency=2), monotonic=lambda: 0.0)
    most = 0
    release = asyncio.Event()

    async def call() -> None:
        nonlocal most
        async with limiter.slot():
            most = max(most, limiter.in_flight)
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(6)]
    await asyncio.sleep(0.01)
    assert limiter.in_flight == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


async def test_a_limiter_spaces_calls_at_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    waits: list[float] = []
    limiter = Limiter(ProviderLimit(rate_per_second=10, burst=2), monotonic=lambda: now[0])
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds
        await real_sleep(0)

    monkeypatch.setattr(limits.asyncio, "sleep", fake_sleep)
    for _ in range(4):
        async with limiter.slot():
            pass
    # Two at once (the burst), then one every 0.1 s.
    assert [round(w, 6) for w in waits] == [0.1, 0.1]
