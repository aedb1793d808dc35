"""A response assembled from serialized messages parses as protobuf builds it."""

from __future__ import annotations

from rapport.profile.entrypoints.wire import repeated_message_field
from rapport.profile.v1 import profile_service_pb2 as pb


def test_repeated_profiles_parse_back_in_order_whatever_their_size() -> None:
    profiles = [
        pb.Profile(customer="workspaces/w/customers/a"),
        pb.Profile(),  # empty: zero bytes
        pb.Profile(customer="workspaces/w/customers/" + "b" * 300),  # a two-byte length
        pb.Profile(customer="c" * 20_000),  # a three-byte length
    ]
    raw = repeated_message_field(1, (p.SerializeToString() for p in profiles))
    assert raw == pb.BatchGetProfilesResponse(profiles=profiles).SerializeToString()
    assert list(pb.BatchGetProfilesResponse.FromString(raw).profiles) == profiles
    assert repeated_message_field(1, []) == b""
