"""Erasure of model contributions through the real gRPC server: what a customer's
outcomes added to a bandit's statistics is subtracted when the customer is erased, so
the stored statistics are those learnt from the other customers' outcomes only."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2, struct_pb2
from rapport.decisioning.adapters import tables
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.sqlstore import create_engine
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
BOB = "workspaces/default/customers/bob"
# Decides after Alice (and Bob) are erased: Decide refuses an erased customer.
CAROL = "workspaces/default/customers/carol"
MODEL = f"{PARENT}/models/nba"
ROUNDS = 3
# Per decision: an impression of each of the two actions and a click on offer-a.
PER_DECISION = 3

Statistics = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]]


@pytest.fixture(autouse=True)
def known_customers(fake_services):
    for customer, plan in ((ALICE, "gold"), (BOB, "basic"), (CAROL, "basic")):
        fake_services.profile.traits[customer] = {"plan": plan}
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)


async def prepare(stub) -> None:
    for action_id in ("offer-a", "offer-b"):
        await stub.CreateAction(
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
    await without_contact_limits(stub)
    await stub.CreateModel(
        pb.CreateModelRequest(
            parent=PARENT,
            model_id="nba",
            model=pb.Model(
                kind=pb.MODEL_KIND_BANDIT,
                mode=pb.MODEL_MODE_ACTIVE,
                features=["traits.plan", "context.placement"],
                dimensions=16,
                reward_outcome=pb.OUTCOME_TYPE_CLICK,
            ),
        )
    )


async def train(stub, customer: str, placement: str = "home") -> None:
    """ROUNDS decisions offering both actions; each shown, offer-a clicked (twice: the
    repeat adds nothing)."""
    for _ in range(ROUNDS):
        response = await stub.Decide(
            pb.DecideRequest(
                parent=PARENT,
                customer=customer,
                max_actions=2,
                placement=placement,
                context=struct_pb2.Struct(),
            )
        )
        assert len(response.actions) == 2
        for ranked in sorted(response.actions, key=lambda a: a.action):
            kinds = [pb.OUTCOME_TYPE_IMPRESSION]
            if ranked.action.endswith("offer-a"):
                kinds += [pb.OUTCOME_TYPE_CLICK, pb.OUTCOME_TYPE_CLICK]
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


async def erase(stub, customer: str) -> pb.EraseCustomerDecisionsResponse:
    return await stub.EraseCustomerDecisions(
        pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=customer)
    )


async def stored_statistics(settings) -> Statistics:
    engine = create_engine(settings.database_url_or_default(), schema=settings.database_schema)
    s = tables.model_statistics
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(s).order_by(s.c.action_id))).all()
    finally:
        await engine.dispose()

    def array(data: bytes) -> np.ndarray:
        return np.frombuffer(data, dtype="<f8")

    return {
        row.action_id: (array(row.xtx), array(row.xr), array(row.xsum), int(row.count))
        for row in rows
    }


def assert_same(found: Statistics, expected: Statistics) -> None:
    assert sorted(found) == sorted(expected)
    for action_id, (xtx, xr, xsum, count) in expected.items():
        f_xtx, f_xr, f_xsum, f_count = found[action_id]
        assert f_count == count, action_id
        for got, want in ((f_xtx, xtx), (f_xr, xr), (f_xsum, xsum)):
            assert np.allclose(got, want, rtol=0, atol=1e-9), action_id


async def bob_only(serve, make_settings, tmp_path) -> Statistics:
    """The statistics learnt from Bob's outcomes alone, in a database of their own."""
    directory = tmp_path / "bob-only"
    directory.mkdir()
    settings = make_settings(data_dir=directory, model_refresh_seconds=0)
    async with serve(settings) as stub:
        await prepare(stub)
        await train(stub, BOB)
    return await stored_statistics(settings)


async def erasure_scenario(serve, settings, expected_bob: Statistics) -> None:
    """Alice and Bob train the bandit; erasing Alice leaves Bob's statistics."""
    async with serve(settings) as stub:
        await prepare(stub)
        await train(stub, ALICE)
        await train(stub, BOB)
        await train(stub, ALICE, placement="inbox")
        both = await stored_statistics(settings)
        assert both["offer-a"][3] == both["offer-b"][3] == 3 * ROUNDS

        exported = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=ALICE, page_size=1000)
        )
        contributions = list(exported.model_contributions)
        assert len(contributions) == 2 * ROUNDS * PER_DECISION
        assert {c.model for c in contributions} == {MODEL}
        clicks = [c for c in contributions if c.reward]
        assert len(clicks) == 2 * ROUNDS and not any(c.exposed for c in clicks)
        assert {c.action for c in clicks} == {f"{PARENT}/actions/offer-a"}
        decisions = {d.name for d in exported.decisions}
        outcomes = {o.name for o in exported.outcomes}
        assert {c.decision for c in contributions} == decisions
        assert {c.outcome for c in contributions} <= outcomes
        times = [(c.create_time.ToDatetime(), c.outcome) for c in contributions]
        assert times == sorted(times, reverse=True)

        erased = await erase(stub, ALICE)
        assert erased.model_contribution_count == 2 * ROUNDS * PER_DECISION
        assert erased.decision_count == 2 * ROUNDS
        assert_same(await stored_statistics(settings), expected_bob)
        left = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
        )
        assert list(left.model_contributions) == [] and not left.next_page_token

        again = await erase(stub, ALICE)
        assert (again.model_contribution_count, again.decision_count) == (0, 0)
        assert_same(await stored_statistics(settings), expected_bob)

        # Everyone erased: nothing learnt is left, without rounding residue.
        assert (await erase(stub, BOB)).model_contribution_count == ROUNDS * PER_DECISION
        for xtx, xr, xsum, count in (await stored_statistics(settings)).values():
            assert count == 0 and not xtx.any() and not xsum.any()
            assert np.allclose(xr, 0, rtol=0, atol=1e-12)
        # The bandit decides on (no longer learns from what Alice and Bob did).
        response = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=CAROL, max_actions=2))
        assert response.model == MODEL


async def test_erasure_subtracts_the_customers_contributions(serve, make_settings, tmp_path):
    expected = await bob_only(serve, make_settings, tmp_path)
    await erasure_scenario(serve, make_settings(model_refresh_seconds=0), expected)


async def test_a_model_reset_between_learning_and_erasure_subtracts_nothing(
    serve, make_settings, tmp_path
):
    expected = await bob_only(serve, make_settings, tmp_path)
    await reset_scenario(serve, make_settings(model_refresh_seconds=0), expected)


async def reset_scenario(serve, settings, expected: Statistics) -> None:
    """A model reset or deleted after Alice's outcomes has nothing of hers to subtract."""
    async with serve(settings) as stub:
        await prepare(stub)
        await train(stub, ALICE)
        # Other dimensions, then back: what was learnt is forgotten, twice.
        for dimensions in (8, 16):
            await stub.UpdateModel(
                pb.UpdateModelRequest(
                    model=pb.Model(name=MODEL, dimensions=dimensions),
                    update_mask=field_mask_pb2.FieldMask(paths=["dimensions"]),
                )
            )
        await train(stub, BOB)
        assert (await erase(stub, ALICE)).model_contribution_count == 0
        assert_same(await stored_statistics(settings), expected)

        # Deleting the model drops its contributions too: a model of the same id made
        # afterwards has nothing of Carol's to subtract (Alice, erased, is refused now).
        await train(stub, CAROL)
        await stub.DeleteModel(pb.DeleteModelRequest(name=MODEL))
        await stub.CreateModel(
            pb.CreateModelRequest(
                parent=PARENT,
                model_id="nba",
                model=pb.Model(
                    kind=pb.MODEL_KIND_BANDIT,
                    mode=pb.MODEL_MODE_ACTIVE,
                    features=["traits.plan", "context.placement"],
                    dimensions=16,
                    reward_outcome=pb.OUTCOME_TYPE_CLICK,
                ),
            )
        )
        await train(stub, BOB)
        erased = await erase(stub, CAROL)
        assert (erased.model_contribution_count, erased.decision_count) == (0, ROUNDS)
        assert_same(await stored_statistics(settings), expected)


async def test_export_pages_through_decisions_outcomes_and_contributions(stub):
    await prepare(stub)
    await train(stub, ALICE)
    whole = await stub.ExportCustomerDecisions(
        pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
    )
    assert not whole.next_page_token
    assert (len(whole.decisions), len(whole.outcomes)) == (ROUNDS, ROUNDS * 4)
    assert len(whole.model_contributions) == ROUNDS * PER_DECISION
    items: list[tuple[str, str]] = []
    token, pages = "", 0
    while True:
        page = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(
                parent=PARENT, customer=ALICE, page_size=4, page_token=token
            )
        )
        pages += 1
        found = [
            *(("d", d.name) for d in page.decisions),
            *(("o", o.name) for o in page.outcomes),
            *(("c", c.outcome + c.model) for c in page.model_contributions),
        ]
        assert len(found) <= 4
        items += found
        token = page.next_page_token
        if not token:
            break
    expected = [
        *(("d", d.name) for d in whole.decisions),
        *(("o", o.name) for o in whole.outcomes),
        *(("c", c.outcome + c.model) for c in whole.model_contributions),
    ]
    assert items == expected
    assert pages >= len(expected) // 4
