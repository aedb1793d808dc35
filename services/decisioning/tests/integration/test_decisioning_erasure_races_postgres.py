"""EraseCustomerDecisions on PostgreSQL against an outcome being recorded, or a decision
being stored, for the same customer: the outcome's transaction and the erasure take the
customer's lock first, so the erasure runs after an outcome that read its decision
before it (and deletes it, its model contribution included), never between that read
and its write. A decision's insert takes the lock in shared mode and checks the
erased customer's tombstone: it waits for an erasure holding the lock and is then
refused, or the erasure waits for its commit and deletes it."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from rapport.decisioning.adapters.decision_repository import DecisionRepository
from rapport.decisioning.adapters.grpc_clients import GrpcProfileClient
from rapport.decisioning.adapters.model_contributions import ModelContributionRepository
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import HeldAfterRead, expect_error
from rapport.type.v1 import channel_pb2

from .._decisioning_support import without_contact_limits
from ..service.test_decisioning_erasure_races import (
    ALICE,
    alice,  # noqa: F401 - the fixture giving Alice a profile and consent
    assert_nothing_left,
    create_offer,
    erase,
    erased_while_deciding,
)
from ..service.test_decisioning_model_erasure_service import prepare

PARENT = "workspaces/default"
CUSTOMER = "workspaces/default/customers/c1"


@pytest.fixture
def pg_settings(make_settings, postgres_url, pg_schema):
    return make_settings(database_url=postgres_url, database_schema=pg_schema)


async def test_an_outcome_recorded_during_an_erasure_does_not_outlive_it(
    serve, pg_settings, fake_services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_services.profile.traits[CUSTOMER] = {"plan": "gold"}
    fake_services.consent.grant(CUSTOMER, "marketing", channel_pb2.CHANNEL_EMAIL)
    async with serve(pg_settings) as stub:
        await prepare(stub)  # two actions and an active bandit
        decided = await stub.Decide(pb.DecideRequest(parent=PARENT, customer=CUSTOMER))
        # RecordOutcome held once it has read which customer the decision is for.
        hold = HeldAfterRead(monkeypatch, DecisionRepository, "customer_of")
        recording = asyncio.ensure_future(
            stub.RecordOutcome(
                pb.RecordOutcomeRequest(
                    parent=PARENT,
                    outcome=pb.Outcome(
                        decision=decided.decision,
                        customer=CUSTOMER,
                        action=decided.actions[0].action,
                        type=pb.OUTCOME_TYPE_CLICK,
                    ),
                )
            )
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        erasing = asyncio.ensure_future(
            stub.EraseCustomerDecisions(
                pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=CUSTOMER)
            )
        )
        await asyncio.sleep(0.3)  # the erasure waits for the outcome's lock, or not
        hold.release.set()
        recorded, erased = await asyncio.gather(recording, erasing)
        assert erased.outcome_count == 1  # the outcome first, then the erasure deleting it
        assert recorded.customer == CUSTOMER
        left = await stub.ExportCustomerDecisions(
            pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=CUSTOMER)
        )
        # On the old code the outcome and its model contribution were written after the
        # erasure had committed: personal data kept past an acknowledged erasure.
        assert (list(left.decisions), list(left.outcomes), list(left.model_contributions)) == (
            [],
            [],
            [],
        )


@pytest.mark.parametrize("contact_limits", [False, True], ids=["group-commit", "limits"])
async def test_a_decide_that_read_the_profile_before_an_erasure_stores_nothing(
    serve, pg_settings, monkeypatch: pytest.MonkeyPatch, contact_limits: bool
) -> None:
    async with serve(pg_settings) as stub:
        await create_offer(stub)
        if not contact_limits:
            await without_contact_limits(stub)
        await erased_while_deciding(stub, monkeypatch)
        await assert_nothing_left(stub)


async def test_an_erasure_waits_for_a_decision_being_stored_and_deletes_it(
    serve, pg_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(pg_settings) as stub:
        await create_offer(stub)
        await without_contact_limits(stub)
        # The group commit's transaction held once it has inserted the decision.
        hold = HeldAfterRead(monkeypatch, DecisionRepository, "add_many", hold_empty=True)
        deciding = asyncio.ensure_future(
            stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
        )
        await asyncio.wait_for(hold.reached.wait(), 10)
        erasing = asyncio.ensure_future(erase(stub))
        await asyncio.sleep(0.3)
        # On the old code the erasure did not wait: it deleted nothing and committed,
        # and the decision was committed after it.
        assert not erasing.done(), "the erasure did not wait for the decision's commit"
        hold.release.set()
        decided, erased = await asyncio.gather(deciding, erasing)
        assert decided.decision  # answered: stored, then deleted by the erasure
        assert erased.decision_count == 1
        await assert_nothing_left(stub)


async def test_a_decision_waits_for_an_erasure_holding_the_customer_and_is_refused(
    serve, pg_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(pg_settings) as stub:
        await create_offer(stub)
        await without_contact_limits(stub)
        deciding_hold = HeldAfterRead(monkeypatch, GrpcProfileClient, "get_profile")
        deciding = asyncio.ensure_future(
            stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE))
        )
        await asyncio.wait_for(deciding_hold.reached.wait(), 10)
        # The erasure held once it holds the customer's lock (its first read after it).
        erasing_hold = HeldAfterRead(
            monkeypatch, ModelContributionRepository, "customer_pairs", hold_empty=True
        )
        erasing = asyncio.ensure_future(erase(stub))
        await asyncio.wait_for(erasing_hold.reached.wait(), 10)
        deciding_hold.release.set()
        await asyncio.sleep(0.3)
        # On the old code the decision was stored at once, and answered.
        assert not deciding.done(), "the decision did not wait for the erasure"
        erasing_hold.release.set()
        assert (await erasing).decision_count == 0
        info, _ = await expect_error(deciding, grpc.StatusCode.NOT_FOUND)
        assert info.metadata["resource"] == ALICE
        await assert_nothing_left(stub)
