"""The fake profile's ListProfiles (conftest.FakeProfile): the customers holding a trait,
in name order, with the traits the read mask names; page tokens are positions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from rapport.profile.v1 import profile_service_pb2


class ProfileListingFake:
    traits: dict[str, dict[str, Any]]
    list_profiles_requests: list[profile_service_pb2.ListProfilesRequest]
    # ListProfiles fails UNAVAILABLE for these page tokens.
    unavailable_tokens: set[str]

    # FakeProfile's: the profile of a name, with every trait.
    _profile: Callable[[str], profile_service_pb2.Profile]

    async def ListProfiles(
        self, request: profile_service_pb2.ListProfilesRequest, context: grpc.aio.ServicerContext
    ) -> profile_service_pb2.ListProfilesResponse:
        self.list_profiles_requests.append(request)
        if request.page_token in self.unavailable_tokens:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "profile down, scripted by the test")
        workspace = request.parent.removesuffix("/customers/-")
        keys = {p.removeprefix("traits.") for p in request.read_mask.paths}
        holders = sorted(
            c
            for c, traits in self.traits.items()
            if c.startswith(f"{workspace}/")
            and (not request.has_trait or request.has_trait in traits)
        )
        start = int(request.page_token or 0)
        size = request.page_size or 50
        page = []
        for customer in holders[start : start + size]:
            profile = self._profile(f"{customer}/profile")
            for key in [k for k in profile.traits if keys and k not in keys]:
                del profile.traits[key]
            page.append(profile)
        token = str(start + size) if start + size < len(holders) else ""
        return profile_service_pb2.ListProfilesResponse(profiles=page, next_page_token=token)
