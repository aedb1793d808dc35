"""Erasure reaches the probabilistic-matching store too (no attribute values survive)."""

from __future__ import annotations

from rapport.identity.adapters.tables import match_models
from rapport.identity.v1 import identity_service_pb2 as pb
from rapport.sqlstore import create_engine
from sqlalchemy import func, select

PARENT = "workspaces/default"


async def _stored_models(settings) -> int:
    engine = create_engine(settings.database_url_or_default())
    try:
        async with engine.connect() as connection:
            return (
                await connection.execute(select(func.count()).select_from(match_models))
            ).scalar_one()
    finally:
        await engine.dispose()


async def test_erasing_a_customer_drops_the_trained_match_model(
    stub, seed_people, identity_settings
):
    people = await seed_people(stub)
    subject = people.names[0]
    found = await stub.FindMatches(pb.FindMatchesRequest(parent=PARENT, customer=subject))
    assert found.matches, "a known duplicate should be found"
    assert await _stored_models(identity_settings) == 1

    await stub.EraseCustomer(pb.EraseCustomerRequest(name=subject))

    # The model's term-frequency tables counted the erased person's values.
    assert await _stored_models(identity_settings) == 0
    # Matching still works: the model is retrained on the data that is left.
    again = await stub.FindMatches(pb.FindMatchesRequest(parent=PARENT, customer=people.names[1]))
    assert all(match.customer != subject for match in again.matches)
    assert await _stored_models(identity_settings) == 1
