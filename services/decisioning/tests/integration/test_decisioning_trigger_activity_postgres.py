"""Trigger activities on PostgreSQL: recorded once per trigger and signal (insert if
absent), listed newest first with filters, erased with the customer, pruned in batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rapport.decisioning.adapters.trigger_activity_repository import TriggerActivityRepository
from rapport.decisioning.service_layer import trigger_activities
from rapport.decisioning.v1 import decisioning_service_pb2 as pb
from rapport.grpctesting import eventually
from rapport.type.v1 import channel_pb2

from ..service.test_decisioning_trigger_activity_service import (
    ALICE,
    BOB,
    CATALOGUE,
    DAVE,
    EVE,
    EXPECTED,
    START,
    Clock,
    _list,
    _run_scenario,
    _summary,
)

PARENT = "workspaces/default"


@pytest.fixture
def pg_settings(tmp_path, make_settings, postgres_url, pg_schema, fake_services):
    # The scenario's customers: Bob gave no consent, Carol has no profile.
    for customer in (ALICE, BOB, DAVE, EVE):
        fake_services.profile.traits[customer] = {}
    for customer in (ALICE, DAVE, EVE):
        fake_services.consent.grant(customer, "marketing", channel_pb2.CHANNEL_EMAIL)
    path = tmp_path / "pg-catalogue.yaml"
    path.write_text(CATALOGUE)
    return make_settings(
        database_url=postgres_url,
        database_schema=pg_schema,
        catalogue_file=path,
        triggers_enabled=True,
        trigger_activity_retention=timedelta(days=1),
        trigger_activity_prune_seconds=0.05,
    )


async def test_trigger_activities_on_postgres(
    serve, pg_settings, fake_services, stored_cursor, monkeypatch
):
    monkeypatch.setattr(trigger_activities, "PRUNE_BATCH", 3)
    batches: list[int] = []
    prune = TriggerActivityRepository.prune

    async def counted(self, *args, **kwargs) -> int:
        removed = await prune(self, *args, **kwargs)
        if removed:
            batches.append(removed)
        return removed

    monkeypatch.setattr(TriggerActivityRepository, "prune", counted)
    clock = Clock(START)
    async with serve(pg_settings, clock=clock) as stub:
        await _run_scenario(fake_services, clock, pg_settings, stored_cursor)
        assert [_summary(a) for a in await _list(stub)] == EXPECTED
        alice = await _list(stub, customer=ALICE, outcome=pb.TRIGGER_ACTIVITY_OUTCOME_SKIPPED)
        assert [a.event_message_id for a in alice] == ["e2"]

        erased = await stub.EraseCustomerDecisions(
            pb.EraseCustomerDecisionsRequest(parent=PARENT, customer=ALICE)
        )
        assert erased.trigger_activity_count == 3
        assert await _list(stub, customer=ALICE) == []

        clock.now = START + timedelta(days=2)

        async def pruned() -> bool:
            return await _list(stub) == []

        await eventually(pruned)
    assert batches == [3, 2]
