"""In-memory profile, consent and delivery clients for tests of the service layer.

They implement the client ports of rapport.decisioning.service_layer.dependencies.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from rapport.decisioning.adapters.catalogue_file import YamlConfigDocuments
from rapport.decisioning.domain.model import Channel, Signal
from rapport.decisioning.domain.outbound import (
    ConsentQuery,
    CustomerProfile,
    DependencyError,
    OutboundMessage,
    SentMessage,
)
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.service_layer.dependencies import Dependencies
from rapport.decisioning.service_layer.unit_of_work import DecisioningUnitOfWork
from rapport.pagination import PageTokens


class FakeProfileClient:
    """Profiles by customer name and a signal log that can grow while watched."""

    def __init__(self) -> None:
        self.traits: dict[str, dict[str, Any]] = {}
        self.signals: list[Signal] = []
        self.watch_cursors: list[str] = []  # start cursor of each watch, in order
        self.fail_get_with: DependencyError | None = None
        self.get_profile_calls = 0
        # The segments profile has (segment_exists).
        self.segments: set[str] = set()
        self._changed = asyncio.Event()

    def append(self, signal: Signal) -> None:
        self.signals.append(signal)
        self._changed.set()

    async def get_profile(self, customer: str) -> CustomerProfile | None:
        self.get_profile_calls += 1
        if self.fail_get_with is not None:
            raise self.fail_get_with
        traits = self.traits.get(customer)
        return CustomerProfile(customer, dict(traits)) if traits is not None else None

    async def segment_exists(self, segment: str) -> bool:
        return segment in self.segments

    async def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        self.watch_cursors.append(start_cursor)
        position = 0
        if start_cursor:
            cursors = [s.cursor for s in self.signals]
            position = cursors.index(start_cursor) + 1 if start_cursor in cursors else 0
        while True:
            while position < len(self.signals):
                yield self.signals[position]
                position += 1
            self._changed.clear()
            await self._changed.wait()


class FakeConsentClient:
    """Everything denied unless granted; counts calls so tests can assert batching."""

    def __init__(self) -> None:
        self.granted: set[tuple[str, str, Channel]] = set()
        self.check_calls = 0
        self.batch_calls: list[list[ConsentQuery]] = []
        self.unavailable = False

    def grant(self, customer: str, purpose: str, *channels: Channel) -> None:
        for channel in channels:
            self.granted.add((customer, purpose, channel))

    def _allowed(self, query: ConsentQuery) -> bool:
        return (query.customer, query.purpose, query.channel) in self.granted

    async def check(self, query: ConsentQuery) -> bool:
        self.check_calls += 1
        if self.unavailable:
            raise DependencyError("consent", "UNAVAILABLE")
        return self._allowed(query)

    async def batch_check(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        self.batch_calls.append(list(queries))
        if self.unavailable:
            raise DependencyError("consent", "UNAVAILABLE")
        return [self._allowed(q) for q in queries]


class FakeDeliveryClient:
    """Records sends; `failures` are raised, one per call, before any send succeeds."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.attempts = 0
        self.failures: list[DependencyError] = []
        self._by_key: dict[str, SentMessage] = {}

    async def send(self, message: OutboundMessage) -> SentMessage:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        existing = self._by_key.get(message.idempotency_key)
        if existing is not None:
            return existing
        self.sent.append(message)
        sent = SentMessage(
            name=f"workspaces/{message.workspace}/messages/m{len(self.sent)}", state="QUEUED"
        )
        self._by_key[message.idempotency_key] = sent
        return sent


def fake_dependencies(engine: Any, now: datetime, workspace: str = "default") -> Dependencies:
    """Dependencies on ``engine`` (migrated) with the fake profile, consent and delivery
    clients and a clock stopped at ``now``."""
    return Dependencies(
        uow=functools.partial(DecisioningUnitOfWork, engine),
        profile=FakeProfileClient(),
        consent=FakeConsentClient(),
        delivery=FakeDeliveryClient(),
        workspaces=(workspace,),
        rules=RuleBook(),
        page_tokens=PageTokens(None),
        documents=YamlConfigDocuments(),
        clock=lambda: now,
    )
