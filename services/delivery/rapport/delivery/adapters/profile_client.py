"""Outbound port to the profile service: the traits of a customer."""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable
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


class CachedProfileClient(ProfileClient):
    """Profiles read through `inner`, each kept `ttl_seconds` (a short validity: a trait
    changed in profile shows here that much later at most); concurrent reads of one
    customer share one call. Only profiles read are kept: a profile not found, an
    unreadable one or a failed call is asked again next time."""

    def __init__(
        self,
        inner: ProfileClient,
        *,
        ttl_seconds: float,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be positive and max_entries at least 1")
        self._inner = inner
        self._ttl = ttl_seconds
        self._max = max_entries
        self._monotonic = monotonic
        self._kept: dict[str, tuple[float, CustomerProfile]] = {}
        self._reading: dict[str, asyncio.Future[CustomerProfile]] = {}

    async def get_profile(self, customer: str) -> CustomerProfile:
        now = self._monotonic()
        kept = self._kept.get(customer)
        if kept is not None and kept[0] > now:
            return kept[1]
        reading = self._reading.get(customer)
        if reading is None:
            reading = asyncio.ensure_future(self._read(customer))
            self._reading[customer] = reading
        # Shielded: one caller going away does not cancel the others' read.
        return await asyncio.shield(reading)

    async def _read(self, customer: str) -> CustomerProfile:
        try:
            profile = await self._inner.get_profile(customer)
        finally:
            self._reading.pop(customer, None)
        if len(self._kept) >= self._max:
            now = self._monotonic()
            self._kept = {c: e for c, e in self._kept.items() if e[0] > now}
            if len(self._kept) >= self._max:
                self._kept.clear()
        self._kept[customer] = (self._monotonic() + self._ttl, profile)
        return profile
