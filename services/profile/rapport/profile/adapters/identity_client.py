"""Outbound calls to the identity service (contract rapport.identity.v1).

The profile's identifiers (domain ``Identifier``) are converted to identity's
contract here, and identity's answers back to customer ids. Identifiers are
built with ``.add(type=..., value=...)`` so that the request does not depend on
which package the contract's Identifier message lives in.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import grpc
from rapport.config import ServiceSettings
from rapport.errors import InvalidArgument
from rapport.grpcclients import error_details, open_channel
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from rapport.profile.domain import names
from rapport.profile.domain.model import Identifier
from rapport.wellknowntypes import to_timestamp

_log = logging.getLogger(__name__)

SOURCE = "profile"

_IDENTIFIER_FIELD = re.compile(
    r"requests\[(?P<request>\d+)\](?:\.identifiers\[(?P<identifier>\d+)\](?P<rest>.*))?"
)


@dataclass(frozen=True)
class Observation:
    """Identifiers seen together (one event)."""

    identifiers: Sequence[Identifier]
    observe_time: datetime | None = None
    # The identifiers assert one person (an alias): identity links them all or changes
    # nothing, so a refused alias leaves no customer holding one of its ids alone.
    link_all_or_nothing: bool = False


@dataclass(frozen=True)
class UnlinkedIdentifier:
    """An identifier identity left unlinked (blocked, erased and blocked, over a limit)."""

    type: str
    value: str  # as identity normalised it
    reason: str
    description: str


@dataclass(frozen=True)
class Resolution:
    # "" when identity linked none of the identifiers (see ``unlinked``): no customer.
    customer_id: str
    # Customers identity merged into ``customer_id`` because of this observation.
    merged_customer_ids: tuple[str, ...] = ()
    # Identity linked every identifier to the customer, merging and rejecting nothing:
    # the same observation would get the same answer, writing nothing, until identity's
    # graph changes around the customer (the identity follower hears of it).
    settled: bool = False
    # The answer came from profile's cache of such answers, not from identity now.
    cached: bool = False
    # Identifiers identity left unlinked; all of them when ``customer_id`` is "".
    unlinked: tuple[UnlinkedIdentifier, ...] = ()


class IdentityRefused(Exception):
    """Identity refused an observation as invalid (e.g. a malformed phone number).

    ``request_index``/``identifier_index`` locate the identifier when identity
    named it; ``subfield`` is what followed it in the field path (``.value``).
    """

    def __init__(
        self,
        description: str,
        request_index: int | None = None,
        identifier_index: int | None = None,
        subfield: str = "",
    ) -> None:
        super().__init__(description)
        self.description = description
        self.request_index = request_index
        self.identifier_index = identifier_index
        self.subfield = subfield


class IdentityBadAnswer(Exception):
    """Identity answered with something profile cannot use (a definite failure:
    asking again gets the same answer). ``problem`` says what, without personal data."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class IdentityUnavailable(Exception):
    """Identity could not answer now; retrying later may succeed."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class IdentityClient(ABC):
    @abstractmethod
    async def batch_resolve(
        self, workspace: str, observations: Sequence[Observation]
    ) -> list[Resolution]:
        """Resolve observations in order, one Resolution per observation."""

    @abstractmethod
    async def lookup_customer(self, workspace: str, identifier: Identifier) -> str | None:
        """The customer ``identifier`` is linked to, creating nothing; None when it is
        linked to none (or is no value of its type identity could link)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class GrpcIdentityClient(IdentityClient):
    def __init__(self, address: str, settings: ServiceSettings) -> None:
        self._channel = open_channel(address, settings)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)

    async def batch_resolve(
        self, workspace: str, observations: Sequence[Observation]
    ) -> list[Resolution]:
        request = identity_service_pb2.BatchResolveRequest(parent=names.workspace_name(workspace))
        for observation in observations:
            item = request.requests.add(
                source=SOURCE, link_all_or_nothing=observation.link_all_or_nothing
            )
            for identifier in observation.identifiers:
                item.identifiers.add(type=identifier.type, value=identifier.value)
            if observation.observe_time is not None:
                item.observe_time.CopyFrom(to_timestamp(observation.observe_time))
        try:
            response = await self._stub.BatchResolve(request)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise _refusal(err) from None
            _log.warning("identity BatchResolve failed", extra={"code": err.code().name})
            raise IdentityUnavailable(err.code().name) from None
        return _resolutions(response, workspace, len(observations))

    async def lookup_customer(self, workspace: str, identifier: Identifier) -> str | None:
        request = identity_service_pb2.LookupCustomerRequest(parent=names.workspace_name(workspace))
        request.identifier.type = identifier.type
        request.identifier.value = identifier.value
        try:
            customer = await self._stub.LookupCustomer(request)
        except grpc.aio.AioRpcError as err:
            # NOT_FOUND: linked to nobody; INVALID_ARGUMENT: not a value of the type.
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            _log.warning("identity LookupCustomer failed", extra={"code": err.code().name})
            raise IdentityUnavailable(err.code().name) from None
        return _customer_id(customer.name, workspace)

    async def close(self) -> None:
        await self._channel.close()


def _resolutions(
    response: identity_service_pb2.BatchResolveResponse, workspace: str, expected: int
) -> list[Resolution]:
    """Identity's answer as customer ids of ``workspace``; IdentityBadAnswer otherwise."""
    if len(response.responses) != expected:
        raise _bad_answer(f"{len(response.responses)} answers to {expected} requests")
    return [_resolution(item, workspace) for item in response.responses]


def _resolution(item: identity_service_pb2.ResolveResponse, workspace: str) -> Resolution:
    unlinked = tuple(
        UnlinkedIdentifier(
            rejected.identifier.type,
            rejected.identifier.value,
            rejected.reason,
            rejected.description,
        )
        for rejected in item.rejected_identifiers
    )
    if not item.customer.name and unlinked and not item.merged_customers:
        # Every identifier was rejected: identity created and changed nothing.
        return Resolution(customer_id="", unlinked=unlinked)
    return Resolution(
        customer_id=_customer_id(item.customer.name, workspace),
        merged_customer_ids=tuple(_customer_id(name, workspace) for name in item.merged_customers),
        settled=not item.merged_customers and not unlinked,
        unlinked=unlinked,
    )


def _bad_answer(problem: str) -> IdentityBadAnswer:
    _log.warning("identity BatchResolve answer unusable", extra={"error_reason": problem})
    return IdentityBadAnswer(problem)


def _customer_id(name: str, workspace: str) -> str:
    try:
        ref = names.parse_customer(name, field="customer")
    except InvalidArgument:
        # Identity's answer, not the caller's mistake. The name is not logged.
        raise _bad_answer("a customer name that is not a resource name") from None
    if ref.workspace != workspace:
        raise _bad_answer("a customer of another workspace")
    return ref.customer_id


def _refusal(err: grpc.aio.AioRpcError) -> IdentityRefused:
    description = err.details() or "identity refused the identifiers"
    _, bad_request = error_details(err)
    for violation in bad_request.field_violations if bad_request is not None else ():
        match = _IDENTIFIER_FIELD.fullmatch(violation.field)
        if match is None:
            continue
        identifier = match["identifier"]
        return IdentityRefused(
            violation.description or description,
            request_index=int(match["request"]),
            identifier_index=int(identifier) if identifier is not None else None,
            subfield=match["rest"] or "",
        )
    return IdentityRefused(description)
