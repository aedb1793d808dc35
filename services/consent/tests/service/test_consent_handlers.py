"""Service-layer checks that the gRPC surface cannot observe: how many queries run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rapport.consent.adapters.cache import InProcessStateCache, NoStateCache, StateCache
from rapport.consent.bootstrap import MIGRATIONS_DIR
from rapport.consent.domain.model import Channel, ConsentState
from rapport.consent.service_layer import commands, handlers
from rapport.consent.service_layer.dependencies import Dependencies
from rapport.consent.service_layer.unit_of_work import ConsentUnitOfWork
from rapport.pagination import PageTokens
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from .._consent_support import FakeClock


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'consent.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    yield engine
    await engine.dispose()


def _deps(engine: AsyncEngine, cache: StateCache) -> Dependencies:
    return Dependencies(
        uow_factory=partial(ConsentUnitOfWork, engine),
        cache=cache,
        workspaces=("default",),
        page_tokens=PageTokens(None),
        clock=FakeClock(),
    )


def _count_ledger_selects(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "consent_ledger" in statement:
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return statements


async def test_a_batch_reads_the_ledger_once_and_then_the_cache(engine: AsyncEngine) -> None:
    deps = _deps(engine, InProcessStateCache())
    customers = [f"workspaces/default/customers/c{i}" for i in range(50)]
    for customer in customers[::2]:
        await handlers.record_consent(
            commands.RecordConsent(
                parent=customer,
                purpose="marketing",
                channel=Channel.EMAIL,
                state=ConsentState.GRANTED,
                source="web_form",
            ),
            deps,
        )
    checks = [
        commands.CheckConsent(customer=customer, purpose="marketing", channel=channel)
        for customer in customers
        for channel in (Channel.EMAIL, Channel.SMS)
    ]
    selects = _count_ledger_selects(engine)
    batch = commands.BatchCheckConsent(parent="workspaces/default", requests=tuple(checks))

    first = await handlers.batch_check_consent(batch, deps)
    assert len(selects) == 1
    assert [d.allowed for d in first] == [
        i % 2 == 0 and channel is Channel.EMAIL
        for i in range(50)
        for channel in (Channel.EMAIL, Channel.SMS)
    ]
    second = await handlers.batch_check_consent(batch, deps)
    assert len(selects) == 1  # every current-state check answered from the cache
    assert second == first


async def test_without_a_cache_every_check_reads_the_ledger(engine: AsyncEngine) -> None:
    deps = _deps(engine, NoStateCache())
    selects = _count_ledger_selects(engine)
    check = commands.CheckConsent(
        customer="workspaces/default/customers/c1", purpose="marketing", channel=Channel.PUSH
    )
    await handlers.check_consent(check, deps)
    read_once = len(selects)
    await handlers.check_consent(check, deps)
    assert read_once > 0 and len(selects) == 2 * read_once
