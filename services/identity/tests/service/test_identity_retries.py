"""The unit of work is redone after losing a race, and gives up with ABORTED."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapport.errors import Aborted
from rapport.identity.bootstrap import MIGRATIONS_DIR, build_dependencies
from rapport.identity.domain.rules import IdentifierTypeRule, IdentityRules, Normalization
from rapport.identity.service_layer import commands, customers, resolve
from rapport.identity.service_layer.dependencies import Dependencies
from rapport.identity.service_layer.unit_of_work import MAX_RETRIES, IdentityUnitOfWork
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


# One identifier type, trimmed, without limits or blocked values.
USER_ID_ONLY = IdentityRules((IdentifierTypeRule("user_id", Normalization.TRIM),))


@pytest.fixture
async def ctx(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}")
    await migrate(engine, MIGRATIONS_DIR)
    LosingUnitOfWork.failures = LosingUnitOfWork.commits = 0
    yield build_dependencies(
        engine,
        workspaces={"default"},
        default_rules=USER_ID_ONLY,
        unit_of_work=LosingUnitOfWork,
    )
    await engine.dispose()


async def live_count(ctx: Dependencies) -> int:
    page = await customers.list_customers(commands.ListCustomers(PARENT), ctx)
    return len(page.customers)


async def test_a_lost_race_is_retried_and_applied_once(ctx: Dependencies) -> None:
    LosingUnitOfWork.failures = MAX_RETRIES
    result = await resolve.resolve(RESOLVE, ctx)
    assert result.created
    assert LosingUnitOfWork.commits == MAX_RETRIES + 1
    assert await live_count(ctx) == 1  # the failed attempts were rolled back


async def test_too_many_lost_races_abort_and_change_nothing(ctx: Dependencies) -> None:
    LosingUnitOfWork.failures = MAX_RETRIES + 1
    with pytest.raises(Aborted) as caught:
        await resolve.resolve(RESOLVE, ctx)
    assert caught.value.reason == "CONCURRENT_UPDATE"
    assert await live_count(ctx) == 0
