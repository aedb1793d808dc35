"""The other services' erase and export methods, as one small port per service
(contracts rapport.<service>.v1 only), for data subject requests.

Each port is given every customer id the request covers, the live one first (identity
finds them: ``IdentitySubjectRights.subject``). Profile follows merges itself (asked
about each id to erase, about the first it holds to export); decisioning and delivery
keep what they hold under the id it was recorded with, so each id is asked about.

NOT_FOUND from a service (the customer is unknown to it, or already erased) means it
holds nothing: an erasure is done, an export is the service's sections, empty. Any
other failure is raised as PeerCallFailed with the service's status code and message,
for the step to be tried again later. Every call has its own deadline.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from rapport.config import ServiceSettings
from rapport.consent.domain import names
from rapport.consent.domain.subject_requests import Service, StepError
from rapport.decisioning.v1 import decisioning_service_pb2 as decisioning_pb
from rapport.decisioning.v1 import decisioning_service_pb2_grpc as decisioning_grpc
from rapport.delivery.v1 import delivery_service_pb2 as delivery_pb
from rapport.delivery.v1 import delivery_service_pb2_grpc as delivery_grpc
from rapport.grpcclients import open_channel
from rapport.identity.v1 import identity_service_pb2 as identity_pb
from rapport.identity.v1 import identity_service_pb2_grpc as identity_grpc
from rapport.profile.v1 import profile_service_pb2 as profile_pb
from rapport.profile.v1 import profile_service_pb2_grpc as profile_grpc

R = TypeVar("R")

# google.rpc.Code INTERNAL: what a service answered that consent cannot use.
_INTERNAL = grpc.StatusCode.INTERNAL.value[0]
# Export pages asked for at once (the contracts' maximum).
_PAGE_SIZE = 1000


class PeerCallFailed(Exception):
    """A service's call failed other than with NOT_FOUND: try the step again later."""

    def __init__(self, error: StepError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class SubjectRightsPeer(Protocol):
    """One service's part of data subject requests."""

    service: Service

    async def erase(
        self, workspace: str, customer_ids: Sequence[str], block_identifiers: bool
    ) -> int:
        """Everything the service holds on the customers erased (done if it holds
        nothing); ``customer_ids``: the live one first. How many records it erased."""
        ...

    async def export(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> tuple[dict[str, Any], int]:
        """Everything the service holds on the customers, as one JSON object, and how
        many records that is."""
        ...

    async def close(self) -> None: ...


def _as_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class _GrpcPeer:
    """A channel to one service, and its calls' error handling."""

    service: Service

    def __init__(self, address: str, settings: ServiceSettings, deadline_seconds: float) -> None:
        self._channel = open_channel(address, settings)
        self._deadline = deadline_seconds

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Message) -> R | None:
        """The response; None for NOT_FOUND; PeerCallFailed for anything else."""
        try:
            return await method(request, timeout=self._deadline)
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise PeerCallFailed(StepError(err.code().value[0], err.details() or "")) from None

    async def _each(
        self, method: Callable[..., Awaitable[R]], requests: Iterable[Message]
    ) -> list[R]:
        """One call per request (a covered customer each), in order: the answers of
        those the service holds something on (NOT_FOUND answers nothing)."""
        answers = []
        for request in requests:
            answer = await self._call(method, request)
            if answer is not None:
                answers.append(answer)
        return answers

    async def _export(
        self, method: Callable[..., Awaitable[Any]], request: Callable[..., Message]
    ) -> list[Message] | None:
        """Every page of one export (``request(page_token=...)``: a page's request)."""
        return await self._pages(lambda token: self._call(method, request(page_token=token)))

    async def _exports(
        self, method: Callable[..., Awaitable[Any]], requests: Iterable[Callable[..., Message]]
    ) -> list[Message]:
        """Every page of each export (one a covered customer; NOT_FOUND adds none)."""
        pages: list[Message] = []
        for request in requests:
            pages.extend(await self._export(method, request) or [])
        return pages

    async def _pages(
        self, fetch: Callable[[str], Awaitable[Message | None]]
    ) -> list[Message] | None:
        """Every page of an export (None for NOT_FOUND on the first page)."""
        pages: list[Message] = []
        token, seen = "", set()
        while True:
            page = await fetch(token)
            if page is None:
                # Also on a later page: erased meanwhile, what was read is held no more.
                return None
            pages.append(page)
            token = page.next_page_token  # type: ignore[attr-defined]
            if not token:
                return pages
            if token in seen:
                raise PeerCallFailed(
                    StepError(_INTERNAL, f"{self.service} repeated an export page token")
                )
            seen.add(token)


@dataclass(frozen=True, slots=True)
class IdentitySubject:
    """Who identity holds under a customer id: the live customer (a merge's survivor)
    and the customers merged into it."""

    live_id: str
    merged_ids: tuple[str, ...]
    customer_json: dict[str, Any]
    identifier_count: int


class IdentitySubjectRights(_GrpcPeer):
    service = Service.IDENTITY

    def __init__(self, address: str, settings: ServiceSettings, deadline_seconds: float) -> None:
        super().__init__(address, settings, deadline_seconds)
        self._stub = identity_grpc.IdentityServiceStub(self._channel)

    async def subject(self, workspace: str, customer_id: str) -> IdentitySubject | None:
        """The person behind the id (GetCustomer follows a merge to its survivor); None
        when identity holds nothing under it (never seen, or erased)."""
        customer = await self._call(
            self._stub.GetCustomer,
            identity_pb.GetCustomerRequest(name=names.customer_name(workspace, customer_id)),
        )
        if customer is None:
            return None
        live = names.customer_id_in(customer.name, workspace)
        merged = tuple(names.customer_id_in(name, workspace) for name in customer.merged_customers)
        if not live or not all(merged):
            raise PeerCallFailed(
                StepError(_INTERNAL, "identity answered a customer name of another workspace")
            )
        return IdentitySubject(live, merged, _as_json(customer), len(customer.identifiers))

    async def erase(
        self, workspace: str, customer_ids: Sequence[str], block_identifiers: bool
    ) -> int:
        """Identity erases the live customer with the customers merged into it."""
        erased = await self._call(
            self._stub.EraseCustomer,
            identity_pb.EraseCustomerRequest(
                name=names.customer_name(workspace, customer_ids[0]),
                block_identifiers=block_identifiers,
            ),
        )
        return erased.erased_identifier_count if erased is not None else 0

    async def export(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> tuple[dict[str, Any], int]:
        subject = await self.subject(workspace, customer_ids[0])
        if subject is None:
            return {"customer": {}}, 0
        return {"customer": subject.customer_json}, subject.identifier_count


class ProfileSubjectRights(_GrpcPeer):
    service = Service.PROFILE

    def __init__(self, address: str, settings: ServiceSettings, deadline_seconds: float) -> None:
        super().__init__(address, settings, deadline_seconds)
        self._stub = profile_grpc.ProfileServiceStub(self._channel)

    async def erase(
        self, workspace: str, customer_ids: Sequence[str], block_identifiers: bool
    ) -> int:
        answers = await self._each(
            self._stub.EraseProfile,
            (
                profile_pb.EraseProfileRequest(name=names.profile_name(workspace, customer_id))
                for customer_id in customer_ids
            ),
        )
        return sum(a.erased_event_count + a.erased_trait_count for a in answers)

    async def export(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> tuple[dict[str, Any], int]:
        # Profile keeps a merged person under the survivor: the first id it holds
        # answers for all of them.
        pages = None
        for customer_id in customer_ids:
            name = names.profile_name(workspace, customer_id)
            pages = await self._export(
                self._stub.ExportProfile,
                partial(profile_pb.ExportProfileRequest, name=name, page_size=_PAGE_SIZE),
            )
            if pages is not None:
                break
        if pages is None:
            empty = {
                "profile": {},
                "traits": {},
                "events": [],
                "group_memberships": [],
                "merged_customers": [],
            }
            return empty, 0
        # The first page holds every section; later ones more events.
        merged: dict[str, Any] | None = None
        for page in pages:
            data = self._page_json(page)
            if merged is None:
                merged = data
                merged.setdefault("events", [])
            else:
                merged["events"].extend(data.get("events") or [])
        exported = merged or {}
        traits = exported.get("traits")
        count = len(exported.get("events") or []) + (len(traits) if isinstance(traits, dict) else 0)
        return exported, count

    def _page_json(self, page: Message) -> dict[str, Any]:
        try:
            data = json.loads(page.data_json)  # type: ignore[attr-defined]
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("events", []), list):
            raise PeerCallFailed(StepError(_INTERNAL, "profile's export is not a JSON object"))
        return data


class DecisioningSubjectRights(_GrpcPeer):
    service = Service.DECISIONING

    def __init__(self, address: str, settings: ServiceSettings, deadline_seconds: float) -> None:
        super().__init__(address, settings, deadline_seconds)
        self._stub = decisioning_grpc.DecisioningServiceStub(self._channel)

    async def erase(
        self, workspace: str, customer_ids: Sequence[str], block_identifiers: bool
    ) -> int:
        answers = await self._each(
            self._stub.EraseCustomerDecisions,
            (
                decisioning_pb.EraseCustomerDecisionsRequest(
                    parent=names.workspace_name(workspace),
                    customer=names.customer_name(workspace, customer_id),
                )
                for customer_id in customer_ids
            ),
        )
        # Every count it answers (decisions, outcomes, contacts...): what it erased.
        return sum(
            getattr(answer, field.name)
            for answer in answers
            for field in answer.DESCRIPTOR.fields
            if field.name.endswith("_count")
        )

    async def export(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> tuple[dict[str, Any], int]:
        parent = names.workspace_name(workspace)
        exported: dict[str, list[Any]] = {
            "decisions": [],
            "outcomes": [],
            "model_contributions": [],
            "trigger_activities": [],
        }
        pages = await self._exports(
            self._stub.ExportCustomerDecisions,
            (
                partial(
                    decisioning_pb.ExportCustomerDecisionsRequest,
                    parent=parent,
                    customer=names.customer_name(workspace, customer_id),
                    page_size=_PAGE_SIZE,
                )
                for customer_id in customer_ids
            ),
        )
        for page in pages:
            for section, items in exported.items():
                items.extend(_as_json(item) for item in getattr(page, section))
        return exported, sum(len(items) for items in exported.values())


class DeliverySubjectRights(_GrpcPeer):
    service = Service.DELIVERY

    def __init__(self, address: str, settings: ServiceSettings, deadline_seconds: float) -> None:
        super().__init__(address, settings, deadline_seconds)
        self._stub = delivery_grpc.DeliveryServiceStub(self._channel)

    async def erase(
        self, workspace: str, customer_ids: Sequence[str], block_identifiers: bool
    ) -> int:
        answers = await self._each(
            self._stub.EraseCustomerMessages,
            (
                delivery_pb.EraseCustomerMessagesRequest(
                    parent=names.customer_name(workspace, customer_id)
                )
                for customer_id in customer_ids
            ),
        )
        return sum(answer.erased_message_count for answer in answers)

    async def export(
        self, workspace: str, customer_ids: Sequence[str]
    ) -> tuple[dict[str, Any], int]:
        pages = await self._exports(
            self._stub.ExportCustomerMessages,
            (
                partial(
                    delivery_pb.ExportCustomerMessagesRequest,
                    parent=names.customer_name(workspace, customer_id),
                    page_size=_PAGE_SIZE,
                )
                for customer_id in customer_ids
            ),
        )
        messages = [_as_json(m) for page in pages for m in page.messages]
        return {"messages": messages}, len(messages)


_PEER_KINDS: dict[Service, Callable[[str, ServiceSettings, float], SubjectRightsPeer]] = {
    Service.IDENTITY: IdentitySubjectRights,
    Service.PROFILE: ProfileSubjectRights,
    Service.DECISIONING: DecisioningSubjectRights,
    Service.DELIVERY: DeliverySubjectRights,
}


def subject_rights_peers(
    addresses: dict[Service, str], settings: ServiceSettings, deadline_seconds: float
) -> list[SubjectRightsPeer]:
    """The ports of the services this deployment names (an empty address: not part of it)."""
    return [
        _PEER_KINDS[service](address, settings, deadline_seconds)
        for service, address in addresses.items()
        if address
    ]
