"""merge_customers (used by deduplication jobs and accepted reviews) on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rapport.identity.adapters.tables import identifiers, identity_changes, merges, separations
from rapport.identity.bootstrap import MIGRATIONS_DIR, build_dependencies
from rapport.identity.service_layer import commands, customers, resolve
from rapport.identity.service_layer.dependencies import Dependencies
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import insert, select

PARENT = "workspaces/default"


@pytest.fixture
async def engine(tmp_path: Path):
    sql_engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}")
    await migrate(sql_engine, MIGRATIONS_DIR)
    yield sql_engine
    await sql_engine.dispose()


@pytest.fixture
def ctx(engine) -> Dependencies:
    return build_dependencies(engine, workspaces={"default"})


async def make(ctx: Dependencies, *pairs: tuple[str, str]) -> str:
    result = await resolve.resolve(
        commands.Resolve(PARENT, tuple(commands.RawIdentifier(t, v) for t, v in pairs)), ctx
    )
    assert result.customer is not None
    return result.customer.id


async def merge_customers(
    ctx: Dependencies, workspace: str, customer_ids: list[str], *, source: str, reason: str
) -> resolve.MergeOutcome:
    command = commands.MergeCustomers(workspace, customer_ids, source=source, reason=reason)
    return await resolve.merge_customers(command, ctx)


async def merge_customer_groups(
    ctx: Dependencies, workspace: str, groups: list[list[str]], *, source: str, reason: str
) -> list[resolve.MergeOutcome]:
    command = commands.MergeCustomerGroups(workspace, groups, source=source, reason=reason)
    return await resolve.merge_customer_groups(command, ctx)


async def test_merges_into_the_oldest_and_records_it(ctx, engine) -> None:
    c1 = await make(ctx, ("device_id", "d1"))
    c2 = await make(ctx, ("device_id", "d2"), ("user_id", "u2"))
    outcome = await merge_customers(ctx, "default", [c2, c1], source="dedup", reason="MATCH")
    assert outcome.survivor == c1 and outcome.merged == [c2] and outcome.refused == []
    assert outcome.customer is not None
    assert {i.value for i in outcome.customer.identifiers} == {"d1", "d2", "u2"}

    got = await customers.get_customer(commands.GetCustomer(f"{PARENT}/customers/{c2}"), ctx)
    assert got.id == c1 and got.merged_customer_ids == (c2,)
    async with engine.connect() as conn:
        [merge] = (await conn.execute(select(merges))).all()
        assert (merge.survivor_id, merge.merged_id, merge.source) == (c1, c2, "dedup")
        kinds = (
            await conn.execute(
                select(identity_changes.c.kind, identity_changes.c.other_customer_id)
            )
        ).all()
        assert ("merged", c2) in [(k.kind, k.other_customer_id) for k in kinds]
        origins = dict(
            (
                await conn.execute(select(identifiers.c.value, identifiers.c.origin_customer_id))
            ).all()
        )
    assert origins == {"d1": c1, "d2": c2, "u2": c2}  # merges never change the origin


async def test_refuses_what_rules_forbid(ctx, engine) -> None:
    c1 = await make(ctx, ("user_id", "u1"))
    c2 = await make(ctx, ("user_id", "u2"))
    c3 = await make(ctx, ("device_id", "d3"))
    c4 = await make(ctx, ("device_id", "d4"))
    async with engine.begin() as conn:
        low, high = sorted([c1, c4])
        await conn.execute(
            insert(separations).values(
                workspace="default",
                customer_a=low,
                customer_b=high,
                reason="REJECTED",
                create_time=datetime.now(UTC),
            )
        )
    outcome = await merge_customers(
        ctx, "default", [c1, c2, c3, c4, "missing"], source="review", reason="ACCEPTED"
    )
    assert outcome.survivor == c1
    assert outcome.merged == [c3]
    assert sorted(outcome.refused) == sorted(
        [("missing", "NOT_FOUND"), (c2, "LIMIT_EXCEEDED"), (c4, "KEPT_APART")]
    )


async def test_already_merged_customers_resolve_to_their_survivor(ctx) -> None:
    c1 = await make(ctx, ("device_id", "d1"))
    c2 = await make(ctx, ("device_id", "d2"))
    await make(ctx, ("device_id", "d1"), ("device_id", "d2"))  # c2 merged into c1
    outcome = await merge_customers(ctx, "default", [c2, c1], source="dedup", reason="MATCH")
    assert outcome.survivor == c1 and outcome.merged == [] and outcome.refused == []


async def test_many_groups_merge_in_one_unit_with_the_same_rules(ctx, engine) -> None:
    a1 = await make(ctx, ("device_id", "a1"))
    a2 = await make(ctx, ("device_id", "a2"))
    b1 = await make(ctx, ("user_id", "ub1"))
    b2 = await make(ctx, ("user_id", "ub2"))  # user_id limit 1: b1 and b2 cannot merge
    c1 = await make(ctx, ("device_id", "c1"))
    c2 = await make(ctx, ("device_id", "c2"))

    outcomes = await merge_customer_groups(
        ctx, "default", [[a2, a1], [b1, b2], [c1, c2]], source="dedup", reason="MATCH"
    )

    assert [(o.survivor, o.merged) for o in outcomes] == [(a1, [a2]), (b1, []), (c1, [c2])]
    assert outcomes[1].refused == [(b2, "LIMIT_EXCEEDED")]
    async with engine.connect() as conn:
        pairs = {(m.survivor_id, m.merged_id) for m in (await conn.execute(select(merges))).all()}
    assert pairs == {(a1, a2), (c1, c2)}
