"""Outbound port to the profile service: the traits of a customer."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import json_format
from rapport.delivery.domain import names
from rapport.delivery.domain.values import whole_numbers_as_ints
from rapport.profile.v1 import profile_service_pb2, profile_service_pb2_grpc

from .upstream import as_upstream_unavailable


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

        Raises ProfileNotFound, or UpstreamUnavailable for failures worth a retry.
        """


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
        traits = {
            key: whole_numbers_as_ints(json_format.MessageToDict(trait.value))
            for key, trait in reply.traits.items()
        }
        return CustomerProfile(customer=customer, traits=traits)
