"""EraseCustomerDecisions committed while a Decide or a trigger that had read the customer's
profile was still deciding: the decision it then stores is refused (the erased
customer's tombstone is checked by the insert), so nothing of the customer outlives
the erasure, and Decide answers NOT_FOUND as for an erased customer. On SQLite; the
PostgreSQL side is in integration/test_decisioning_erasure_races_postgres.py."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from rapport.decisioning.adapters.grpc_clients import GrpcProfileClient
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import HeldAfterRead, eventually, expect_error
from rapport.type.v1 import channel_pb2, message_content_pb2

from .._decisioning_support import without_contact_limits

PARENT = "workspaces/default"
ALICE = "workspaces/default/customers/alice"
EVENT = "Policy Renewal Due"

CATALOGUE = """
actions:
  - id: renewal-reminder
    channels: [email]
    purpose: marketing
    value: 120.0
    content:
      subject: "Your policy renews soon"
      text_body: "Renew now."
triggers:
  - id: renewal-due
    event_name: Policy Renewal Due
    condition: 'true'
    action: renewal-reminder
    channel: email
"""


@pytest.fixture(autouse=True)
def alice(fake_services):
    # The fake profile keeps Alice after the erasure: only decisioning's own record of
    # the erasure refuses her.
    fake_services.profile.traits[ALICE] = {"plan": "gold"}
    fake_services.consent.grant(ALICE, "marketing", channel_pb2.CHANNEL_EMAIL)


async def create_offer(stub) -> None:
    await stub.CreateAction(
        pb.CreateActionRequest(
            parent=PARENT,
            action_id="offer",
            action=pb.Action(
                channels=[channel_pb2.CHANNEL_EMAIL],
                purpose="marketing",
                value=10.0,
                content=message_content_pb2.MessageContent(subject="s", text_body="b"),
            ),
        )
    )


async def erase(stub) -> pb.EraseCustomerDecisionsResponse:
    return await stub.EraseCustomerDecisions(
        pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
    )


async def assert_nothing_left(stub) -> None:
    left = await stub.ExportCustomerDecisions(
        pb.ExportCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
    )
    assert (list(left.decisions), list(left.outcomes)) == ([], [])
    listed = await stub.ListDecisions(pb.ListDecisionsRequest(parent=PARENT, customer=ALICE))
    assert list(listed.decisions) == []


async def erased_while_deciding(stub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decide held once it has Alice's profile; Alice erased (committed); Decide goes on."""
    hold = HeldAfterRead(monkeypatch, GrpcProfileClient, "get_profile")
    deciding = asyncio.ensure_future(stub.Decide(pb.DecideRequest(parent=PARENT, customer=ALICE)))
    await asyncio.wait_for(hold.reached.wait(), 10)
    assert (await erase(stub)).decision_count == 0
    hold.release.set()
    # On the old code the decision was stored after the erasure and Decide answered it.
    info, _ = await expect_error(deciding, grpc.StatusCode.NOT_FOUND)
    assert (info.reason, info.metadata["resource"]) == ("NOT_FOUND", ALICE)


@pytest.mark.parametrize("contact_limits", [False, True], ids=["group-commit", "limits"])
async def test_a_decide_that_read_the_profile_before_an_erasure_stores_nothing(
    stub, monkeypatch: pytest.MonkeyPatch, contact_limits: bool
) -> None:
    await create_offer(stub)
    if not contact_limits:  # Decide's record joins the writer's group commit
        await without_contact_limits(stub)
    # With the default limits the record and its contact are stored under the lock.
    await erased_while_deciding(stub, monkeypatch)
    await assert_nothing_left(stub)


async def test_an_outcome_for_an_erased_customer_is_refused(stub) -> None:
    await create_offer(stub)
    await erase(stub)
    outcome = pb.Outcome(
        customer=ALICE, action=f"{PARENT}/actions/offer", type=pb.OUTCOME_TYPE_CLICK
    )
    info, _ = await expect_error(
        stub.RecordOutcome(pb.RecordOutcomeRequest(parent=PARENT, outcome=outcome)),
        grpc.StatusCode.NOT_FOUND,
    )
    assert info.metadata["resource"] == ALICE
    await assert_nothing_left(stub)


async def test_a_trigger_that_read_the_profile_before_an_erasure_stores_and_sends_nothing(
    serve, make_settings, fake_services, stored_cursor, tmp_path, monkeypatch
) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    settings = make_settings(catalogue_file=path, triggers_enabled=True)
    hold = HeldAfterRead(monkeypatch, GrpcProfileClient, "get_profile")
    async with serve(settings) as stub:
        signal = await fake_services.emit_event(ALICE, EVENT, message_id="evt-1")
        await asyncio.wait_for(hold.reached.wait(), 10)
        await erase(stub)
        hold.release.set()

        async def handled() -> bool:
            return await stored_cursor(settings) == signal.cursor

        await eventually(handled)
        # On the old code the trigger's decision was stored after the erasure, and sent.
        assert fake_services.delivery.requests == []
        await assert_nothing_left(stub)
