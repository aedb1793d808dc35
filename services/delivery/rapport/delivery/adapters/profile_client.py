"""Outbound port to the profile service: the traits of a customer."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import grpc
from rapport.delivery.domain import names
from rapport.errors import InvalidArgument
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc
from rapport.wellknowntypes import value_to_python

from .upstream import UpstreamUnreadable, as_upstream_unavailable


class ProfileNotFound(Exception):
    """The profile service has no profile for the customer."""


@dataclass(frozen=True)
class CustomerProfile:
    customer: str
    traits: dict[str, Any] = field(default_factory=dict)


class ProfileClient(abc.ABC):
    @abc.abstractmethod
    async def get_profile(self, customer: str) -> CustomerProfile:
        """The profile of the customer named `customer`.

        Raises ProfileNotFound, UpstreamUnreadable when the traits cannot be converted,
        or UpstreamUnavailable for failures worth a retry.
        """


def traits_from_proto(profile: profile_service_pb2.Profile) -> dict[str, Any]:
    """Trait values as template values (whole numbers as ints, so templates print 42).

    Values that cannot be converted (NaN, Infinity, nested more than 32 levels deep)
    make the whole profile unreadable: UpstreamUnreadable naming the trait's path.
    """
    try:
        return {
            key: value_to_python(
                trait.value, field_path=f"traits.{key}.value", whole_numbers_as_ints=True
            )
            for key, trait in profile.traits.items()
        }
    except InvalidArgument as err:
        raise UpstreamUnreadable("profile", err.field) from None


class GrpcProfileClient(ProfileClient):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = profile_service_pb2_grpc.ProfileServiceStub(channel)

    async def get_profile(self, customer: str) -> CustomerProfile:
        request = profile_service_pb2.GetProfileRequest(name=names.profile_name(customer))
        try:
            reply = await self._stub.GetProfile(request)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise ProfileNotFound(customer) from None
            raise as_upstream_unavailable("profile", err) from None
        return CustomerProfile(customer=customer, traits=traits_from_proto(reply))
