"""The bandit across replicas on PostgreSQL: two servers on one database learn from
outcomes recorded concurrently through both, lose no update, and converge."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rapport.decisioning.adapters import tables
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import forget_erasures, without_contact_limits

PARENT = "workspaces/default"
CUSTOMERS = [f"workspaces/default/customers/c{i}" for i in range(4)]


@pytest.fixture
def pg_settings(make_settings, postgres_url, pg_schema):
    return make_settings(
        database_url=postgres_url, database_schema=pg_schema, model_refresh_seconds=0.2
    )


async def test_replicas_share_what_the_bandit_learns(serve, pg_settings, fake_services):
    for customer in CUSTOMERS:
        fake_services.profile.traits[customer] = {"plan": "gold"}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(pg_settings) as first, serve(pg_settings) as second:
        for action_id in ("offer-a", "offer-b"):
            await first.CreateAction(
                pb.CreateActionRequest(
                    parent=PARENT,
                    action_id=action_id,
                    action=pb.Action(
                        channels=[channel_pb2.CHANNEL_EMAIL],
                        purpose="marketing",
                        value=10.0,
                        base_propensity=0.2,
                        content=message_content_pb2.MessageContent(subject="s", text_body="b"),
                    ),
                )
            )
        await without_contact_limits(first)
        await first.CreateModel(
            pb.CreateModelRequest(
                parent=PARENT,
                model_id="nba",
                model=pb.Model(
                    kind=pb.MODEL_KIND_BANDIT,
                    mode=pb.MODEL_MODE_ACTIVE,
                    features=["traits.plan"],
                    reward_outcome=pb.OUTCOME_TYPE_CLICK,
                ),
            )
        )
        # Decisions on both replicas, each outcome recorded on the other one, all at once.
        decided = []
        for n in range(16):
            stub = (first, second)[n % 2]
            customer = CUSTOMERS[n % len(CUSTOMERS)]
            response = await stub.Decide(
                pb.DecideRequest(parent=PARENT, customer=customer, max_actions=2)
            )
            decided.append((n, customer, response))

        async def record(n: int, customer: str, response: pb.DecideResponse) -> None:
            stub = (second, first)[n % 2]
            for ranked in response.actions:
                kinds = [pb.OUTCOME_TYPE_IMPRESSION]
                if ranked.action.endswith("offer-a"):
                    kinds.append(pb.OUTCOME_TYPE_CLICK)
                for kind in kinds:
                    await stub.RecordOutcome(
                        pb.RecordOutcomeRequest(
                            parent=PARENT,
                            outcome=pb.Outcome(
                                decision=response.decision,
                                customer=customer,
                                action=ranked.action,
                                type=kind,
                            ),
                        )
                    )

        await asyncio.gather(*(record(*item) for item in decided))

        async def both_prefer_offer_a() -> None:
            for stub in (first, second):
                response = await stub.Decide(
                    pb.DecideRequest(parent=PARENT, customer=CUSTOMERS[0], max_actions=1)
                )
                assert response.actions[0].action.endswith("offer-a")
                assert response.actions[0].probability > 0.9
            return True

        await eventually(both_prefer_offer_a, timeout=10)
    # No update lost: 32 impressions (16 decisions x 2 actions) and 16 clicks, each one
    # observation added under the (model, action) lock.
    engine = create_engine(pg_settings.database_url, schema=pg_settings.database_schema)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        sa.func.sum(tables.model_statistics.c.count),
                        sa.func.sum(tables.model_statistics.c.revision),
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    assert (int(row[0]), int(row[1])) == (32, 48)


async def test_erasure_subtracts_contributions_on_postgres(
    serve, make_settings, tmp_path, postgres_url, pg_schema, fake_services
):
    """Erasure of model contributions on PostgreSQL, and concurrent with learning from
    another customer's outcomes on another replica: no update is lost either way."""
    from ..service import test_decisioning_model_erasure_service as erasure

    for customer, plan in ((erasure.ALICE, "gold"), (erasure.BOB, "basic"), (erasure.CAROL, "")):
        fake_services.profile.traits[customer] = {"plan": plan}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    expected = await erasure.bob_only(serve, make_settings, tmp_path)

    def on_postgres():
        return make_settings(
            database_url=postgres_url, database_schema=pg_schema, model_refresh_seconds=0
        )

    await erasure.erasure_scenario(serve, on_postgres(), expected)
    async with serve(on_postgres()) as stub:
        await erasure.erase(stub, erasure.CAROL)  # decided last in the first scenario
        await stub.DeleteModel(pb.DeleteModelRequest(name=erasure.MODEL))
        await stub.DeleteAction(pb.DeleteActionRequest(name=f"{PARENT}/actions/offer-a"))
        await stub.DeleteAction(pb.DeleteActionRequest(name=f"{PARENT}/actions/offer-b"))
    await forget_erasures(on_postgres())
    await erasure.reset_scenario(serve, on_postgres(), expected)

    async with serve(on_postgres()) as first, serve(on_postgres()) as second:
        await erasure.erase(first, erasure.BOB)
        await forget_erasures(on_postgres())
        await erasure.train(first, erasure.ALICE)
        erased, _ = await asyncio.gather(
            erasure.erase(first, erasure.ALICE), erasure.train(second, erasure.BOB)
        )
        assert erased.model_contribution_count == erasure.ROUNDS * erasure.PER_DECISION
    erasure.assert_same(await erasure.stored_statistics(on_postgres()), expected)
