"""Outbound calls to the identity service (contract rapport.identity.v1).

The profile's identifiers (domain ``Identifier``) are converted to identity's
contract here, and identity's answers back to customer ids.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import grpc
from google.rpc import error_details_pb2, status_pb2
from rapport.config import ServiceSettings
from rapport.errors import InvalidArgument
from rapport.grpcclients import open_channel
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from rapport.profile.domain import names
from rapport.profile.domain.model import Identifier

_log = logging.getLogger(__name__)

SOURCE = "profile"

_IDENTIFIER_FIELD = re.compile(
    r"requests\[(?P<request>\d+)\](?:\.identifiers\[(?P<identifier>\d+)\](?P<rest>.*))?"
)
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Observation:
    """Identifiers seen together (one event)."""

    identifiers: Sequence[Identifier]
    observe_time: datetime | None = None


@dataclass(frozen=True)
class Resolution:
    customer_id: str
    # Customers identity merged into ``customer_id`` because of this observation.
    merged_customer_ids: tuple[str, ...] = ()


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
            item = request.requests.add(source=SOURCE)
            for identifier in observation.identifiers:
                item.identifiers.add(type=identifier.type, value=identifier.value)
            if observation.observe_time is not None:
                item.observe_time.FromDatetime(observation.observe_time)
        try:
            response = await self._stub.BatchResolve(request)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise _refusal(err) from None
            _log.warning("identity BatchResolve failed", extra={"code": err.code().name})
            raise IdentityUnavailable(err.code().name) from None
        if len(response.responses) != len(observations):
            raise RuntimeError(
                f"identity answered {len(response.responses)} of {len(observations)} requests"
            )
        return [
            Resolution(
                customer_id=_customer_id(item.customer.name),
                merged_customer_ids=tuple(_customer_id(name) for name in item.merged_customers),
            )
            for item in response.responses
        ]

    async def close(self) -> None:
        await self._channel.close()


def _customer_id(name: str) -> str:
    try:
        return names.parse_customer(name, field="customer").customer_id
    except InvalidArgument:
        # Identity's answer, not the caller's mistake: an internal error.
        raise RuntimeError(
            "identity returned a customer name that is not a resource name"
        ) from None


def _refusal(err: grpc.aio.AioRpcError) -> IdentityRefused:
    description = err.details() or "identity refused the identifiers"
    for violation in _field_violations(err):
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


def _field_violations(
    err: grpc.aio.AioRpcError,
) -> list[error_details_pb2.BadRequest.FieldViolation]:
    raw = next(
        (value for key, value in (err.trailing_metadata() or ()) if key == _STATUS_DETAILS_KEY),
        None,
    )
    if raw is None:
        return []
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(bad_request.field_violations)
    return violations
