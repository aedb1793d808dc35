"""An erased message (a tombstone) keeps no personal data, on SQLite and PostgreSQL: its
source, failure detail, channel choice and locale are emptied, its payload fingerprint is
keyed (domain.erased_keys), the reasons in its history that providers wrote or that name
a clicked link are emptied; delivery's own reason codes stay, and the tombstone still
reads (GetMessage's proto). And no profile event of an erased customer leaves after the
erasure: one claimed by the outbox relay before it is not sent, and one being sent while
it runs is waited for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rapport.delivery.adapters.message_rows import new_row
from rapport.delivery.adapters.outbox_locks import outbox_locks_for
from rapport.delivery.adapters.profile_events_client import ProfileEvent, ProfileEventSink
from rapport.delivery.adapters.selection_codec import selection_to_text
from rapport.delivery.adapters.status_history import PROFILE_EVENT
from rapport.delivery.adapters.tables import (
    idempotency_keys,
    message_status_history,
    messages,
    outbox,
)
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.model import (
    Channel,
    ChannelEvaluation,
    ChannelSelection,
    Message,
    MessageContent,
    MessageState,
    RetryPolicy,
)
from rapport.delivery.entrypoints.converters import message_to_proto
from rapport.delivery.service_layer import commands
from rapport.delivery.service_layer.closed_loop import ClosedLoop
from rapport.delivery.service_layer.dependencies import Dependencies
from rapport.delivery.service_layer.messages import batch_send_messages, send_message
from rapport.delivery.service_layer.outbox_relay import OutboxRelay
from rapport.delivery.service_layer.subject_requests import erase_customer_messages
from rapport.delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from rapport.errors import FailedPrecondition
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import select

from .._delivery_support import (
    Clock,
    FakeEmailProvider,
    InMemoryConsentClient,
    InMemoryProfileClient,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ADDRESS = "ada@example.com"
CUSTOMER_ID = "c1"
PARENT = f"workspaces/default/customers/{CUSTOMER_ID}"
PROVIDER_TEXT = f"550 5.1.1 <{ADDRESS}>: no such user"
CLICKED_LINK = f"https://shop.example/u/{ADDRESS}/orders"


class HeldSink(ProfileEventSink):
    """Profile's IngestEvents, held while `release` is not set when `hold` is."""

    def __init__(self, *, hold: bool = False) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.sent: list[str] = []

    async def ingest(
        self, workspace: str, events: Sequence[ProfileEvent], *, now: datetime
    ) -> list[bool]:
        self.entered.set()
        await self.release.wait()
        self.sent.extend(event.message_id for event in events)
        return [True for _ in events]


@dataclass
class Store:
    deps: Dependencies
    sink: HeldSink
    engine: Any


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'delivery.db'}", None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
async def store(database: tuple[str, str | None]) -> AsyncIterator[Store]:
    url, schema = database
    engine = create_engine(url, schema=schema)
    await migrate(engine, MIGRATIONS_DIR, schema=schema)
    sink = HeldSink(hold=True)

    def uow_factory(*, readonly: bool = False, snapshot: bool = False) -> DeliveryUnitOfWork:
        return DeliveryUnitOfWork(engine, readonly=readonly, snapshot=snapshot)

    deps = Dependencies(
        uow_factory=uow_factory,
        workspaces=frozenset({"default"}),
        profiles=InMemoryProfileClient(),
        consents=InMemoryConsentClient(),
        providers={},
        retry_policy=RetryPolicy(),
        page_tokens=PageTokens(None),
        clock=Clock(),
        loop=ClosedLoop(profile_events=sink),
        # As bootstrap: row locks on PostgreSQL, a lock in the process on SQLite.
        outbox_locks=outbox_locks_for(engine),
    )
    try:
        yield Store(deps, sink, engine)
    finally:
        await engine.dispose()


def _queued_message() -> Message:
    """A best-channel message as it was accepted."""
    return Message.queue(
        id="m1",
        workspace="default",
        customer_id=CUSTOMER_ID,
        purpose="marketing",
        channel=None,  # type: ignore[arg-type]
        idempotency_key="k-1",
        content=MessageContent("Hi Ada", "Hello"),
        data={},
        source=f"import of {ADDRESS}",
        now=NOW,
        candidate_channels=(Channel.EMAIL, Channel.SMS),
    )


# How its channel was chosen: from the customer's preferences and consents.
SELECTION = ChannelSelection(
    candidate_channels=(Channel.EMAIL, Channel.SMS),
    reason="PREFERRED_CHANNEL",
    explanation="SMS has no consent; EMAIL is the customer's preferred channel",
    evaluations=(
        ChannelEvaluation(Channel.EMAIL, "USABLE", True, 1),
        ChannelEvaluation(Channel.SMS, "NO_CONSENT", False, 2),
    ),
    select_time=NOW,
)


async def _seed(store: Store) -> Message:
    """The message sent to ADDRESS by email, then bounced with the provider's text."""
    message = _queued_message()
    row = new_row(message)
    row.update(
        channel=Channel.EMAIL.value,
        channel_selection=selection_to_text(SELECTION),
        state=MessageState.FAILED.value,
        failure_reason="BOUNCED",
        failure_detail=PROVIDER_TEXT,
        locale="pt-BR",
        recipient=ADDRESS,
    )
    history = [
        ("QUEUED", "", "delivery"),
        ("SENT", "", "delivery"),
        ("CLICKED", CLICKED_LINK, "delivery"),
        ("OPENED", "click", "delivery"),
        ("BOUNCED", PROVIDER_TEXT, "smtp"),
    ]
    async with store.engine.begin() as conn:
        await conn.execute(messages.insert(), [row])
        await conn.execute(
            idempotency_keys.insert(),
            [
                {
                    "workspace": "default",
                    "idempotency_key": "k-1",
                    "message_id": message.id,
                    "create_time": NOW,
                }
            ],
        )
        await conn.execute(
            message_status_history.insert(),
            [
                {
                    "message_id": message.id,
                    "status": status,
                    "reason": reason,
                    "reporter": reporter,
                    "change_time": NOW,
                }
                for status, reason, reporter in history
            ],
        )
    return message


async def _erase(deps: Dependencies) -> None:
    await erase_customer_messages(commands.EraseCustomerMessages(parent=PARENT), deps)


async def _stored(store: Store) -> dict[str, Any]:
    async with store.engine.connect() as conn:
        return dict((await conn.execute(select(messages))).mappings().one())


@pytest.mark.parametrize(
    "column", ["source", "failure_detail", "channel_selection", "locale", "payload_fingerprint"]
)
async def test_an_erased_message_keeps_no_personal_data_in(store: Store, column: str) -> None:
    message = await _seed(store)
    before = (await _stored(store))[column]
    assert before

    await _erase(store.deps)

    after = await _stored(store)
    if column == "payload_fingerprint":
        # Keyed: a guess of the content cannot be confirmed by hashing it.
        assert after[column] != message.payload_fingerprint
        assert after[column] == store.deps.erased_keys.fingerprint(
            "default", message.payload_fingerprint
        )
    else:
        assert after[column] == ""
    assert after["failure_reason"] == "BOUNCED"  # a code, kept


async def test_erased_history_keeps_delivery_codes_not_provider_text_nor_links(
    store: Store,
) -> None:
    await _seed(store)
    await _erase(store.deps)
    async with store.engine.connect() as conn:
        reasons = [
            (row.status, row.reason)
            for row in await conn.execute(
                select(message_status_history).order_by(message_status_history.c.id)
            )
        ]
    assert reasons == [
        ("QUEUED", ""),
        ("SENT", ""),
        ("CLICKED", ""),
        ("OPENED", "click"),
        ("BOUNCED", ""),
    ]


async def test_an_erased_tombstone_still_reads(store: Store) -> None:
    await _seed(store)
    await _erase(store.deps)
    async with store.deps.uow_factory(readonly=True) as uow:
        tombstone = await uow.messages.get("default", "m1")
        history = await uow.status.history(["m1"])
    assert tombstone is not None and tombstone.erase_time is not None
    tombstone.history = tuple(history["m1"])
    shown = message_to_proto(tombstone)
    # The candidates the sender gave stay; how the choice was made is gone.
    assert shown.channel_selection.reason == "" and not shown.channel_selection.evaluations
    assert len(shown.channel_selection.candidate_channels) == 2
    assert ADDRESS.encode() not in shown.SerializeToString()


def _resubmission(**changes: Any) -> commands.SendMessage:
    """SendMessage of what _queued_message says, under its key."""
    command = commands.SendMessage(
        parent="workspaces/default",
        idempotency_key="k-1",
        customer=PARENT,
        purpose="marketing",
        channel=None,
        content=MessageContent("Hi Ada", "Hello"),
        source=f"import of {ADDRESS}",
        best_channel=True,
        candidate_channels=(Channel.EMAIL, Channel.SMS),
    )
    return replace(command, **changes)


async def test_an_erased_message_still_answers_its_key_and_refuses_other_content(
    store: Store,
) -> None:
    await _seed(store)
    await _erase(store.deps)
    deps = replace(
        store.deps,
        providers={Channel.EMAIL: [FakeEmailProvider()], Channel.SMS: [FakeEmailProvider()]},
    )
    for send in (send_message, _batch_of_one):
        replayed = await send(_resubmission(), deps)
        assert replayed.id == "m1" and replayed.erase_time is not None
        with pytest.raises(FailedPrecondition) as refused:
            await send(_resubmission(source="import of bob@example.com"), deps)
        assert refused.value.reason == "IDEMPOTENCY_KEY_REUSED"
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(messages.c.id))).scalars().all() == ["m1"]


async def _batch_of_one(command: commands.SendMessage, deps: Dependencies) -> Message:
    [message] = await batch_send_messages(
        commands.BatchSendMessages(parent="workspaces/default", requests=(command,)), deps
    )
    return message


async def _add_event(deps: Dependencies) -> None:
    async with deps.uow_factory() as uow:
        await uow.status.add_outbox(
            item_id="m1:DELIVERED",
            kind=PROFILE_EVENT,
            workspace="default",
            customer_id=CUSTOMER_ID,
            payload={
                "event": "Email Delivered",
                "identifiers": [["email", ADDRESS]],
                "properties": {"message": "workspaces/default/messages/m1"},
                "time": NOW.isoformat(),
            },
            now=deps.clock(),
        )
        await uow.commit()


class _EraseAfterClaim:
    """A unit-of-work factory whose first unit of work (the relay's claim) is followed,
    once it ended, by the customer's erasure: the moment between claim and send."""

    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps
        self._armed = True

    def __call__(self, **options: Any) -> Any:
        uow = self._deps.uow_factory(**options)
        if not self._armed:
            return uow
        self._armed = False
        deps = self._deps

        class Then:
            async def __aenter__(self) -> DeliveryUnitOfWork:
                return await uow.__aenter__()

            async def __aexit__(self, *exc: Any) -> None:
                await uow.__aexit__(*exc)
                await _erase(deps)

        return Then()


async def test_an_event_claimed_before_the_erasure_is_not_sent(store: Store) -> None:
    store.sink.release.set()
    await _add_event(store.deps)
    relay = OutboxRelay(replace(store.deps, uow_factory=_EraseAfterClaim(store.deps)))
    assert await relay.relay_due() == 1
    assert store.sink.sent == []
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(outbox.c.id))).all() == []


async def test_an_erasure_waits_for_an_event_being_sent(store: Store) -> None:
    await _add_event(store.deps)
    relay = OutboxRelay(store.deps)
    sending = asyncio.create_task(relay.relay_due())
    await asyncio.wait_for(store.sink.entered.wait(), 5)
    # What profile had taken when the erasure returned (the relay's own clean-up after
    # its commit may end after the erasure: not part of what is held).
    sent_when_erased: list[list[str]] = []
    erasing = asyncio.create_task(_erase(store.deps))
    erasing.add_done_callback(lambda _: sent_when_erased.append(list(store.sink.sent)))
    await asyncio.sleep(0.3)
    assert not erasing.done(), "the erasure returned while the event was still being sent"
    store.sink.release.set()
    await asyncio.wait_for(sending, 5)
    await asyncio.wait_for(erasing, 5)
    assert sent_when_erased == [["m1:DELIVERED"]] and store.sink.sent == ["m1:DELIVERED"]
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(outbox.c.id))).all() == []
