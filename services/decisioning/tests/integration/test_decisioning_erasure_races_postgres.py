"""EraseCustomerDecisions on PostgreSQL against an outcome being recorded for the same
customer: the outcome's transaction and the erasure take the customer's lock first, so
the erasure runs after an outcome that read its decision before it (and deletes it, its
model contribution included), never between that read and its write."""

from __future__ import annotations

import asyncio

import pytest
from rapport.decisioning.adapters.decision_repository import DecisionRepository
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import HeldAfterRead
from rapport.type.v1 import channel_pb2

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
