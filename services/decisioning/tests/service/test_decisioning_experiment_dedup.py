"""The experiment report's counts in storage count each customer once per arm, however
many decisions and conversions they have (SQLite; PostgreSQL when CI=true)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from rapport.decisioning.bootstrap import MIGRATIONS
from rapport.decisioning.domain.model import (
    Channel,
    Decision,
    ExcludedAction,
    ExclusionReason,
    Outcome,
    OutcomeType,
    RankedAction,
    ScoreParts,
)
from rapport.decisioning.service_layer.unit_of_work import DecisioningUnitOfWork
from rapport.sqlstore import create_engine, migrate

WS = "default"
RENEWAL = "workspaces/default/actions/renewal"
CROSS_SELL = "workspaces/default/actions/cross-sell"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
ALICE, BOB, CAROL = (f"workspaces/default/customers/{n}" for n in ("alice", "bob", "carol"))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for a SQLite file, else the PostgreSQL URL (a schema of its own)."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture
async def engine(backend, tmp_path) -> AsyncIterator[object]:
    if backend is None:
        url, schema = f"sqlite+aiosqlite:///{tmp_path}/d.db", None
    else:
        url, schema = backend, "t_" + uuid.uuid4().hex[:12]
    made = create_engine(url, schema=schema)
    await migrate(made, MIGRATIONS, schema=schema)
    yield made
    await made.dispose()
    if schema is not None:
        dropper = create_engine(url)
        async with dropper.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await dropper.dispose()


def _decision(n: int, customer: str, arm_id: str, *, shown: bool) -> Decision:
    ranked = RankedAction(
        RENEWAL if shown else CROSS_SELL,
        1,
        1.0,
        ScoreParts(0.5, 1.0, 1.0, 1.0),
        1.0,
        Channel.EMAIL,
        "",
    )
    reason = ExclusionReason.CONTROL_GROUP if arm_id == "control" else ExclusionReason.OUTRANKED
    return Decision(
        decision_id=f"d{n}",
        workspace=WS,
        customer=customer,
        actions=(ranked,),
        excluded=() if shown else (ExcludedAction(RENEWAL, reason, ""),),
        channel=None,
        source="",
        create_time=NOW - timedelta(days=n),
        experiment_id="exp",
        arm_id=arm_id,
        control=arm_id == "control",
    )


def _conversion(n: int, decision: Decision, action: str = RENEWAL) -> Outcome:
    return Outcome(
        workspace=WS,
        outcome_id=f"o{n}",
        decision_id=decision.decision_id,
        customer=decision.customer,
        action=action,
        type=OutcomeType.CONVERSION,
        channel=None,
        outcome_time=NOW,
        create_time=NOW,
        value=1.0,
    )


async def test_each_customer_counts_once_per_arm(engine):
    decisions = [
        # Alice (treated): shown renewal once, outranked twice; converts on two of them.
        _decision(1, ALICE, "treated", shown=True),
        _decision(2, ALICE, "treated", shown=False),
        _decision(3, ALICE, "treated", shown=False),
        # Bob (treated): never shown; converts twice.
        _decision(4, BOB, "treated", shown=False),
        # Carol (control): held back twice; converts twice, and buys the cross-sell.
        _decision(5, CAROL, "control", shown=False),
        _decision(6, CAROL, "control", shown=False),
    ]
    d = {x.decision_id: x for x in decisions}
    conversions = [
        _conversion(1, d["d1"]),
        _conversion(2, d["d2"]),
        _conversion(3, d["d4"]),
        _conversion(4, d["d4"]),
        _conversion(5, d["d5"]),
        _conversion(6, d["d6"]),
        _conversion(7, d["d6"], CROSS_SELL),
    ]
    async with DecisioningUnitOfWork(engine) as uow:
        await uow.decisions.add_many(decisions)
        await uow.outcomes.add_many(conversions)
        await uow.commit()
    async with DecisioningUnitOfWork(engine, readonly=True) as uow:
        reach = await uow.decisions.experiment_reach(WS, "exp")
        exposed = await uow.decisions.experiment_exposed(WS, "exp", [RENEWAL])
        converted = await uow.outcomes.experiment_converted(WS, "exp", [RENEWAL])
        counts = await uow.outcomes.experiment_counts(WS, "exp", [RENEWAL])
    assert reach == {"treated": (2, 4), "control": (1, 2)}
    assert exposed == {"treated": {ALICE}}
    assert converted == {"treated": {ALICE, BOB}, "control": {CAROL}}
    assert sorted(counts) == [
        ("control", OutcomeType.CONVERSION, 1, 2, 2.0),
        ("treated", OutcomeType.CONVERSION, 2, 4, 4.0),
    ]
