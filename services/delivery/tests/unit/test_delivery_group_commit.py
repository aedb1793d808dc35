"""Group commits on the hot path: SendMessage accepts, attempt outcomes, cap counts and
consent checks gathered into batches, with the same answers as one at a time."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.adapters.cap_store import Reservation, SqlCapStore
from rapport.delivery.adapters.consent_client import GrpcConsentClient
from rapport.delivery.adapters.message_repository import MessageRepository
from rapport.delivery.adapters.upstream import UpstreamUnavailable
from rapport.delivery.bootstrap import MIGRATIONS_DIR
from rapport.delivery.domain.consent import ConsentAnswer
from rapport.delivery.domain.frequency_caps import CapRule
from rapport.delivery.domain.model import Channel, MessageContent, MessageState
from rapport.delivery.service_layer import commands, messages
from rapport.errors import FailedPrecondition, NotFound
from rapport.groupcommit import GroupCommit
from rapport.grpctesting import serve_fakes
from rapport.sqlstore import create_engine, migrate
from sqlalchemy.exc import IntegrityError

from .test_delivery_service_layer import command, harness

# --- the batcher itself -----------------------------------------------------------------


async def test_concurrent_items_share_batches_and_get_their_own_answers() -> None:
    batcher: GroupCommit[int, int] = GroupCommit(max_batch=4)
    sizes: list[int] = []

    async def write(items: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return [ValueError(str(i)) if i % 5 == 0 else i * 10 for i in items]

    results = await asyncio.gather(
        *(batcher.submit(i, write) for i in range(1, 11)), return_exceptions=True
    )
    assert [r if not isinstance(r, ValueError) else "err" for r in results] == [
        10, 20, 30, 40, "err", 60, 70, 80, 90, "err",
    ]  # fmt: skip
    assert max(sizes) <= 4 and len(sizes) < 10
    assert (batcher.batches, batcher.items) == (len(sizes), 10)


async def test_a_failing_write_fails_its_batch_only_and_the_next_one_runs() -> None:
    batcher: GroupCommit[int, int] = GroupCommit()
    calls = 0

    async def write(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return list(items)

    with pytest.raises(RuntimeError):
        await batcher.submit(1, write)
    assert await batcher.submit(2, write) == 2


async def test_a_caller_that_leaves_does_not_stop_the_others() -> None:
    batcher: GroupCommit[int, int] = GroupCommit()
    release = asyncio.Event()

    async def write(items: Sequence[int]) -> list[int | BaseException]:
        await release.wait()
        return list(items)

    first = asyncio.ensure_future(batcher.submit(1, write))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(batcher.submit(2, write))
    third = asyncio.ensure_future(batcher.submit(3, write))
    await asyncio.sleep(0)
    second.cancel()
    release.set()
    assert await first == 1 and await third == 3
    assert second.cancelled()


# --- SendMessage accepts ----------------------------------------------------------------


async def test_one_batch_resolves_keys_in_order_and_errors_stay_with_their_caller(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        stored = await h.send(command("stored"))
        submissions = [
            command("a"),
            command("a"),  # a replay of the first, in the same batch
            command("a", purpose="renewals"),  # the same key, another payload
            command("stored"),  # a replay of a stored message
            command("stored", data={"n": 2}),
            command(
                "t", template="workspaces/default/templates/missing", content=MessageContent("", "")
            ),
            command("b"),
        ]
        results = await asyncio.gather(
            *(h.send(cmd) for cmd in submissions), return_exceptions=True
        )
        page = await messages.list_messages(
            commands.ListMessages(parent="workspaces/default", page_size=50), h.deps
        )
        first = await h.get(results[0].name)  # type: ignore[union-attr]
        full = await messages.get_message(commands.GetMessage(first.name, full=True), h.deps)
    a, a_again, a_other, replay, stored_other, missing, b = results
    assert a_again.name == a.name  # type: ignore[union-attr]
    assert isinstance(a_other, FailedPrecondition) and a_other.reason == "IDEMPOTENCY_KEY_REUSED"
    assert a_other.metadata == {"message": a.name}  # type: ignore[union-attr]
    assert replay.name == stored.name  # type: ignore[union-attr]
    assert isinstance(stored_other, FailedPrecondition)
    assert isinstance(missing, NotFound)
    assert b.name not in (a.name, stored.name)  # type: ignore[union-attr]
    # One message per key, each with one QUEUED entry; the batcher did batch.
    assert sorted(m.idempotency_key for m in page.messages) == ["a", "b", "stored"]
    assert [c.status for c in full.history] == ["QUEUED"]
    assert first.state is MessageState.QUEUED
    assert h.deps.accepts.batches < h.deps.accepts.items


async def test_a_batch_that_cannot_be_written_is_accepted_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_many = MessageRepository.add_many

    async def refuse_bad(self: MessageRepository, batch: Sequence[Any]) -> None:
        if any(m.idempotency_key == "bad" for m in batch):
            raise IntegrityError("INSERT", {}, Exception("refused"))
        await add_many(self, batch)

    monkeypatch.setattr(MessageRepository, "add_many", refuse_bad)
    async with harness(tmp_path) as h:
        keys = ["k1", "k2", "bad", "k3", "k4"]
        results = await asyncio.gather(
            *(h.send(command(key)) for key in keys), return_exceptions=True
        )
        page = await messages.list_messages(
            commands.ListMessages(parent="workspaces/default"), h.deps
        )
    assert isinstance(results[2], IntegrityError)
    assert all(not isinstance(r, BaseException) for i, r in enumerate(results) if i != 2)
    assert sorted(m.idempotency_key for m in page.messages) == ["k1", "k2", "k3", "k4"]


# Invariant: however submissions of keys interleave and batch, the first submission of a
# key makes the message, the same payload again answers with it, another is refused.
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(min_value=1, max_value=2)),
        min_size=1,
        max_size=24,
    )
)
def test_batched_accepts_answer_as_one_at_a_time(submissions: list[tuple[str, int]]) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory:
            async with harness(Path(directory)) as h:
                results = await asyncio.gather(
                    *(h.send(command(key, data={"n": n})) for key, n in submissions),
                    return_exceptions=True,
                )
                page = await messages.list_messages(
                    commands.ListMessages(parent="workspaces/default", page_size=50), h.deps
                )
                first: dict[str, tuple[int, str]] = {}
                for (key, n), result in zip(submissions, results, strict=True):
                    if key not in first:
                        assert not isinstance(result, BaseException)
                        first[key] = (n, result.name)
                    elif first[key][0] == n:
                        assert result.name == first[key][1]  # type: ignore[union-attr]
                    else:
                        assert isinstance(result, FailedPrecondition)
                assert sorted(m.idempotency_key for m in page.messages) == sorted(first)
                assert await h.dispatcher.dispatch_due() == len(first)
                assert h.provider.calls == len(first)

    asyncio.run(scenario())


# --- attempt outcomes -------------------------------------------------------------------


async def test_outcomes_recorded_together_keep_only_held_leases(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        sent = [await h.send(command(f"k{i}")) for i in range(3)]
        async with h.deps.uow_factory() as uow:
            claimed = await uow.messages.claim_due(
                now=h.clock(),
                limit=10,
                lease_token="a" * 32,
                lease_expire_time=h.clock() + timedelta(seconds=60),
            )
            await uow.commit()
        assert len(claimed) == 3
        for message in claimed:
            message.mark_sent("fake", f"<{message.id}>", h.clock())
        # The second lost its lease (another dispatcher took it after it expired).
        batch = [(claimed[0], "a" * 32), (claimed[1], "b" * 32), (claimed[2], "a" * 32)]
        async with h.deps.uow_factory() as uow:
            kept = await uow.messages.record_attempts(batch)
            await uow.commit()
        stored = [
            await messages.get_message(commands.GetMessage(m.name, full=True), h.deps)
            for m in claimed
        ]
    assert kept == [True, False, True]
    # The one whose lease was lost is still SENDING for the dispatcher that holds it.
    assert [m.state for m in stored] == [MessageState.SENT, MessageState.SENDING, MessageState.SENT]
    assert [c.status for c in stored[0].history] == ["QUEUED", "SENT"]
    assert [c.status for c in stored[1].history] == ["QUEUED"]
    assert stored[0].provider_message_id == f"<{claimed[0].id}>"
    assert {m.name for m in stored} == {m.name for m in sent}
    # A lost lease keeps its changes, so whoever holds the message records them.
    assert claimed[1].changes and not claimed[0].changes


# --- frequency caps ---------------------------------------------------------------------


async def test_concurrent_reservations_of_one_customer_count_in_order(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'caps.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    store = SqlCapStore(engine)
    rules = [CapRule(limit=2, window=timedelta(hours=1))]
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def reservation(message_id: str, customer: str = "c1") -> Reservation:
        return Reservation(message_id, "default", customer, "marketing", Channel.EMAIL, now)

    try:
        verdicts = await asyncio.gather(
            *(store.reserve(reservation(f"m{i}"), rules, []) for i in range(5)),
            store.reserve(reservation("other", "c2"), rules, []),
        )
        # A message asked again (a retry) is not counted twice.
        again = await store.reserve(reservation("m0"), rules, [])
    finally:
        await engine.dispose()
    assert [v.allowed for v in verdicts] == [True, True, False, False, False, True]
    assert again.allowed


# --- consent checks ---------------------------------------------------------------------


GRANTED, DENIED = ConsentAnswer.GRANTED, ConsentAnswer.DENIED


class Consents(consent_service_pb2_grpc.ConsentServiceServicer):
    """Allows customers whose id ends in an even digit; counts the calls."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.singles = 0
        self.refuse_batches = False

    @staticmethod
    def _answer(request: consent_service_pb2.CheckConsentRequest) -> bool:
        return int(request.customer[-1]) % 2 == 0

    async def CheckConsent(  # noqa: N802
        self, request: consent_service_pb2.CheckConsentRequest, context: Any
    ) -> consent_service_pb2.CheckConsentResponse:
        self.singles += 1
        if request.customer.endswith("9"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "customer")
        return consent_service_pb2.CheckConsentResponse(allowed=self._answer(request))

    async def BatchCheckConsent(  # noqa: N802
        self, request: consent_service_pb2.BatchCheckConsentRequest, context: Any
    ) -> consent_service_pb2.BatchCheckConsentResponse:
        self.batches.append(len(request.requests))
        if self.refuse_batches or any(r.customer.endswith("9") for r in request.requests):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "requests")
        return consent_service_pb2.BatchCheckConsentResponse(
            responses=[
                consent_service_pb2.CheckConsentResponse(allowed=self._answer(r))
                for r in request.requests
            ]
        )


async def test_concurrent_consent_checks_go_in_batches_with_the_same_answers() -> None:
    fake = Consents()
    async with serve_fakes(
        lambda s: consent_service_pb2_grpc.add_ConsentServiceServicer_to_server(fake, s)
    ) as address:
        async with grpc.aio.insecure_channel(address) as channel:
            client = GrpcConsentClient(channel)
            customers = [f"workspaces/default/customers/c{i}" for i in range(9)]
            customers.append("workspaces/other/customers/c4")
            answers = await asyncio.gather(
                *(client.check(c, "marketing", Channel.EMAIL) for c in customers)
            )
            # One check that consent refuses fails alone (as it would asked alone).
            fake.batches.clear()
            mixed = await asyncio.gather(
                *(
                    client.check(f"workspaces/default/customers/c{i}", "m", Channel.EMAIL)
                    for i in (1, 9, 2, 4)
                ),
                return_exceptions=True,
            )
    assert answers == [GRANTED if i % 2 == 0 else DENIED for i in range(9)] + [GRANTED]
    assert mixed[0] is DENIED and mixed[2] is GRANTED and mixed[3] is GRANTED
    assert isinstance(mixed[1], UpstreamUnavailable)
    assert fake.batches and fake.singles >= 1


async def test_consent_unavailable_is_every_waiting_checks_answer() -> None:
    # Nothing listens on port 1: every call fails UNAVAILABLE at once.
    async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:
        client = GrpcConsentClient(channel)
        results = await asyncio.gather(
            *(
                client.check(f"workspaces/default/customers/c{i}", "m", Channel.EMAIL)
                for i in range(4)
            ),
            return_exceptions=True,
        )
    assert all(isinstance(r, UpstreamUnavailable) for r in results)


# --- the SENDING state ------------------------------------------------------------------


async def test_a_claimed_message_is_sending_until_its_attempt_is_recorded(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        queued = await h.send(command("k"))
        async with h.deps.uow_factory() as uow:
            [claimed] = await uow.messages.claim_due(
                now=h.clock(),
                limit=10,
                lease_token="a" * 32,
                lease_expire_time=h.clock() + timedelta(seconds=60),
            )
            await uow.commit()
        during = await h.get(queued.name)
        # Handed back before the attempt ended (a shutdown): queued again, due at once.
        claimed.unclaim()
        async with h.deps.uow_factory() as uow:
            assert await uow.messages.record_attempt(claimed, "a" * 32)
            await uow.commit()
        after = await h.get(queued.name)
        assert await h.dispatcher.dispatch_due() == 1
        full = await messages.get_message(commands.GetMessage(queued.name, full=True), h.deps)
    assert claimed.state is MessageState.QUEUED and during.state is MessageState.SENDING
    assert after.state is MessageState.QUEUED
    assert full.state is MessageState.SENT
    # SENDING is a state, not a history entry (nor a profile event).
    assert [c.status for c in full.history] == ["QUEUED", "SENT"]
