"""Outbound port to the profile service: the traits of a customer."""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc
from rapport.delivery.domain import names
from rapport.errors import InvalidArgument
from rapport.groupcommit import GroupCommit
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


# Profiles asked together in one BatchGetProfiles at most (profile takes up to 1,000).
PROFILE_BATCH = 1000

# Batch failures after which each customer is asked alone: what one customer holds
# (no profile, a name profile refuses) or an answer too large for one message.
_ASK_EACH_ALONE = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


class _Read(NamedTuple):
    """One get_profile call waiting for a batch: its customer, already parsed."""

    workspace: str
    customer: str
    name: str  # .../customers/{customer}/profile


class GrpcProfileClient(ProfileClient):
    """Profiles read at the same time go together: each get_profile waits for a
    BatchGetProfiles sent after it was asked (so it never gets a profile older than
    its call), one per workspace, a customer asked twice asked once. A batch profile
    refuses for one customer's sake (NOT_FOUND: all or nothing) is asked again one
    GetProfile per customer, so only that customer's call fails; a profile without
    BatchGetProfiles (UNIMPLEMENTED) is asked one GetProfile per call from then on."""

    def __init__(self, channel: grpc.aio.Channel, *, linger: float = 0.0) -> None:
        self._stub = profile_service_pb2_grpc.ProfileServiceStub(channel)
        self._reads: GroupCommit[_Read, CustomerProfile] = GroupCommit(PROFILE_BATCH, linger=linger)
        self._batch_unimplemented = False

    async def get_profile(self, customer: str) -> CustomerProfile:
        # A malformed name fails its own call at once (InvalidArgument), never a batch.
        workspace, _ = names.parse_customer(customer, field="customer")
        name = names.profile_name(customer)
        if self._batch_unimplemented:
            return await self._get_one(customer, name)
        return await self._reads.submit(_Read(workspace, customer, name), self._read_batch)

    async def _get_one(self, customer: str, name: str) -> CustomerProfile:
        try:
            reply = await self._stub.GetProfile(profile_service_pb2.GetProfileRequest(name=name))
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise ProfileNotFound(customer) from None
            raise as_upstream_unavailable("profile", err) from None
        return CustomerProfile(customer=customer, traits=traits_from_proto(reply))

    async def _read_batch(self, reads: Sequence[_Read]) -> list[CustomerProfile | BaseException]:
        # Each distinct customer once, grouped by workspace (a batch names one).
        by_workspace: dict[str, dict[str, str]] = {}
        for read in reads:
            by_workspace.setdefault(read.workspace, {})[read.customer] = read.name
        answers: dict[str, CustomerProfile | BaseException] = {}

        async def read_workspace(workspace: str, profile_names: dict[str, str]) -> None:
            answers.update(await self._read_workspace(workspace, profile_names))

        await asyncio.gather(*(read_workspace(w, group) for w, group in by_workspace.items()))
        return [answers[read.customer] for read in reads]

    async def _read_workspace(
        self, workspace: str, profile_names: dict[str, str]
    ) -> dict[str, CustomerProfile | BaseException]:
        """Per customer of one workspace: its profile, or the error its calls get."""
        if len(profile_names) > 1 and not self._batch_unimplemented:
            request = profile_service_pb2.BatchGetProfilesRequest(
                parent=names.workspace_name(workspace), names=list(profile_names.values())
            )
            try:
                reply = await self._stub.BatchGetProfiles(request)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                    # An older profile: not asked for batches again.
                    self._batch_unimplemented = True
                elif err.code() not in _ASK_EACH_ALONE:
                    failure = as_upstream_unavailable("profile", err)
                    return {customer: failure for customer in profile_names}
            else:
                if len(reply.profiles) != len(profile_names):
                    # An answer that does not fit the question is no answer.
                    failure = as_upstream_unavailable("profile", None)
                    return {customer: failure for customer in profile_names}
                return {
                    customer: _settle_profile(customer, profile)
                    for customer, profile in zip(profile_names, reply.profiles, strict=True)
                }
        # A lone customer, or the batch fell back: one GetProfile each, concurrently.
        settled = await asyncio.gather(
            *(self._get_one(c, name) for c, name in profile_names.items()),
            return_exceptions=True,
        )
        return dict(zip(profile_names, settled, strict=True))


def _settle_profile(
    customer: str, profile: profile_service_pb2.Profile
) -> CustomerProfile | UpstreamUnreadable:
    # An unreadable profile fails its customer's calls only, not the batch.
    try:
        return CustomerProfile(customer=customer, traits=traits_from_proto(profile))
    except UpstreamUnreadable as err:
        return err


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
