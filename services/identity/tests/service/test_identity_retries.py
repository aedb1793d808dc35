"""The unit of work is redone after losing a race, and gives up with ABORTED."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapport.errors import Aborted
from rapport.identity.bootstrap import MIGRATIONS_DIR
from rapport.identity.domain.identifiers import IdentifierPolicy
from rapport.identity.service_layer import commands, handlers
from rapport.identity.service_layer.handlers import MAX_RETRIES, IdentityContext
from rapport.identity.service_layer.unit_of_work import IdentityUnitOfWork
from rapport.sqlstore import create_engine, migrate
from sqlalchemy.exc import IntegrityError

PARENT = "workspaces/default"
RESOLVE = commands.Resolve(PARENT, (commands.RawIdentifier("user_id", "u1"),))


class LosingUnitOfWork(IdentityUnitOfWork):
    """Commits fail with a unique violation while ``failures`` lasts (as after a race)."""

    failures = 0
    commits = 0

    async def commit(self) -> None:
        type(self).commits += 1
        if type(self).failures > 0:
            type(self).failures -= 1
            raise IntegrityError("INSERT INTO identifiers ...", {}, Exception("duplicate key"))
        await super().commit()


@pytest.fixture
async def ctx(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    LosingUnitOfWork.failures = LosingUnitOfWork.commits = 0
    yield IdentityContext(
        uow_factory=lambda readonly=False: LosingUnitOfWork(engine, readonly=readonly),
        policy=IdentifierPolicy(known_types=frozenset({"user_id"})),
        workspaces=frozenset({"default"}),
    )
    await engine.dispose()


async def live_count(ctx: IdentityContext) -> int:
    page = await handlers.list_customers(commands.ListCustomers(PARENT), ctx)
    return len(page.customers)


async def test_a_lost_race_is_retried_and_applied_once(ctx: IdentityContext) -> None:
    LosingUnitOfWork.failures = MAX_RETRIES
    result = await handlers.resolve(RESOLVE, ctx)
    assert result.created
    assert LosingUnitOfWork.commits == MAX_RETRIES + 1
    assert await live_count(ctx) == 1  # the failed attempts were rolled back


async def test_too_many_lost_races_abort_and_change_nothing(ctx: IdentityContext) -> None:
    LosingUnitOfWork.failures = MAX_RETRIES + 1
    with pytest.raises(Aborted) as caught:
        await handlers.resolve(RESOLVE, ctx)
    assert caught.value.reason == "CONCURRENT_UPDATE"
    assert await live_count(ctx) == 0
