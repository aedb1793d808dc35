"""The group-commit writer of decision records, on a real (SQLite) database."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta

import pytest
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.domain.contact_policy import Contact
from rapport.decisioning.domain.model import Channel, Decision
from rapport.decisioning.service_layer.decision_writer import DecisionWriter
from rapport.decisioning.service_layer.unit_of_work import DecisioningUnitOfWork
from rapport.errors import NotFound
from rapport.sqlstore import create_engine, migrate

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def decision(decision_id: str, customer: str = "workspaces/default/customers/c") -> Decision:
    return Decision(
        decision_id=decision_id,
        workspace="default",
        customer=customer,
        actions=(),
        excluded=(),
        channel=None,
        source="",
        create_time=NOW,
    )


@pytest.fixture
async def uow(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/writer.db")
    await migrate(engine, MIGRATIONS)
    yield functools.partial(DecisioningUnitOfWork, engine)
    await engine.dispose()


async def stored(uow, decision_id: str) -> Decision | None:
    async with uow(readonly=True) as work:
        return await work.decisions.get("default", decision_id)


async def test_concurrent_writes_share_commits_and_all_land(uow):
    writer = DecisionWriter(uow)
    contact = Contact(Channel.EMAIL, "marketing", "workspaces/default/actions/a", NOW, "d0")
    await asyncio.gather(
        *(writer.write(decision(f"d{n}"), [contact] if n == 0 else []) for n in range(50))
    )
    for n in range(50):
        assert await stored(uow, f"d{n}") is not None
    async with uow(readonly=True) as work:
        contacts = await work.contacts.since(
            "default", "workspaces/default/customers/c", NOW - timedelta(minutes=1)
        )
    assert [c.decision_id for c in contacts] == ["d0"]


async def test_one_bad_record_fails_only_its_own_call(uow):
    writer = DecisionWriter(uow)
    await writer.write(decision("taken"), [])
    results = await asyncio.gather(
        writer.write(decision("fresh-1"), []),
        writer.write(decision("taken"), []),  # the id exists: this one fails
        writer.write(decision("fresh-2"), []),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert await stored(uow, "fresh-1") is not None
    assert await stored(uow, "fresh-2") is not None


async def test_a_decision_for_an_erased_customer_fails_only_its_own_call(uow):
    gone = "workspaces/default/customers/gone"
    async with uow() as work:
        await work.erased_customers.record("default", gone, NOW)
        await work.commit()
    writer = DecisionWriter(uow)
    contact = Contact(Channel.EMAIL, "marketing", "workspaces/default/actions/a", NOW, "late")
    results = await asyncio.gather(
        writer.write(decision("kept-1"), []),
        writer.write(decision("late", gone), [contact]),  # refused, its contact too
        writer.write(decision("kept-2"), []),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], NotFound) and results[1].resource == gone
    assert await stored(uow, "late") is None
    assert await stored(uow, "kept-1") is not None and await stored(uow, "kept-2") is not None
    async with uow(readonly=True) as work:
        assert await work.contacts.since("default", gone, NOW - timedelta(minutes=1)) == []
