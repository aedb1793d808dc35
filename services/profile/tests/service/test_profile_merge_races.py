"""An identity answer from before a merge profile already applied (another replica
resolved the event just before identity merged its customer; or the follower of
another replica applied the merge first) never reopens the merged-away customer:
its events go to the survivor, and the merged-away name keeps showing the survivor."""

from __future__ import annotations

from typing import Any

from rapport.identity.v1 import identity_service_pb2 as ipb
from rapport.profile.v1 import profile_service_pb2 as pb

PARENT = "workspaces/default"
Stub = Any


async def ingest(stub: Stub, event: pb.Event) -> pb.EventResult:
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=PARENT, events=[event]))
    return answer.results[0]


async def test_a_stale_answer_naming_a_merged_away_customer_goes_to_its_survivor(
    profile: Stub, identity: Any, event_factory: Any
) -> None:
    fake = identity[0]
    a = (await ingest(profile, event_factory("e1", user_id="a", anonymous_id="anon-a"))).customer
    b = (await ingest(profile, event_factory("e2", user_id="b"))).customer
    # One event links both: identity merges b into a (the older), and says so.
    merging = await ingest(profile, event_factory("e3", user_id="b", anonymous_id="anon-a"))
    assert merging.customer == a

    # An answer identity gave before that merge (a replica resolved the event first):
    # b, live, nothing merged.
    def before_the_merge(response: ipb.BatchResolveResponse) -> None:
        del response.responses[0].merged_customers[:]
        response.responses[0].customer.name = b

    fake.tamper = before_the_merge
    late = await ingest(profile, event_factory("e4", user_id="b"))
    fake.tamper = None

    assert late.status == pb.INGEST_STATUS_ACCEPTED
    assert late.customer == a
    seen = await profile.GetProfile(pb.GetProfileRequest(name=f"{b}/profile"))
    assert seen.customer == a and seen.event_count == 4
    listed = await profile.ListEvents(pb.ListEventsRequest(parent=b, page_size=10))
    assert {e.name.rsplit("/", 2)[0] for e in listed.events} == {a}
