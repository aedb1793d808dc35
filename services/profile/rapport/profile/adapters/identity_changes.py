"""Following identity: its WatchChanges stream and the customers it names
(contract rapport.identity.v1), converted to profile's customer ids."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

import grpc
from rapport.config import ServiceSettings
from rapport.errors import InvalidArgument
from rapport.grpcclients import open_channel
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from rapport.profile.domain import names
from rapport.profile.domain.model import Identifier

from .identity_client import IdentityUnavailable

_log = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    CREATED = "created"
    MERGED = "merged"
    UNMERGED = "unmerged"
    ERASED = "erased"
    # The workspace's identity rules changed: no customer; kept answers are stale.
    RULES_UPDATED = "rules_updated"


_KINDS = {
    identity_service_pb2.CHANGE_KIND_CREATED: ChangeKind.CREATED,
    identity_service_pb2.CHANGE_KIND_MERGED: ChangeKind.MERGED,
    identity_service_pb2.CHANGE_KIND_UNMERGED: ChangeKind.UNMERGED,
    identity_service_pb2.CHANGE_KIND_ERASED: ChangeKind.ERASED,
    identity_service_pb2.CHANGE_KIND_RULES_UPDATED: ChangeKind.RULES_UPDATED,
}


@dataclass(frozen=True)
class IdentityChange:
    """One change of identity's graph. ``kind`` None: a change profile cannot read (an
    unknown kind, a customer of another workspace...): skipped, its cursor kept."""

    cursor: str
    kind: ChangeKind | None
    customer_id: str = ""
    other_customer_ids: tuple[str, ...] = ()
    # Changes identity itself skipped before this one (it could not stream them).
    skipped_before: int = 0


@dataclass(frozen=True)
class CustomerIdentity:
    """A customer as identity knows it now."""

    customer_id: str
    identifiers: tuple[Identifier, ...]
    merged_customer_ids: tuple[str, ...]


class IdentityChanges:
    """WatchChanges and GetCustomer of one identity service."""

    def __init__(self, address: str, settings: ServiceSettings) -> None:
        self._channel = open_channel(address, settings)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)

    async def watch(self, workspace: str, start_cursor: str) -> AsyncIterator[IdentityChange]:
        """The workspace's changes after ``start_cursor`` until the stream ends;
        IdentityUnavailable when it fails (follow again from the last cursor)."""
        request = identity_service_pb2.WatchChangesRequest(
            parent=names.workspace_name(workspace), start_cursor=start_cursor
        )
        call = self._stub.WatchChanges(request)
        try:
            async for response in call:
                yield _change(response, workspace)
        except grpc.aio.AioRpcError as err:
            raise IdentityUnavailable(err.code().name) from None
        finally:
            call.cancel()

    async def customer(self, workspace: str, customer_id: str) -> CustomerIdentity | None:
        """The customer now (None when identity no longer knows it; the survivor when
        it was merged since)."""
        try:
            found = await self._stub.GetCustomer(
                identity_service_pb2.GetCustomerRequest(
                    name=names.customer_name(workspace, customer_id)
                )
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise IdentityUnavailable(err.code().name) from None
        return CustomerIdentity(
            customer_id=_customer_id(found.name, workspace) or customer_id,
            identifiers=tuple(Identifier(i.type, i.value) for i in found.identifiers),
            merged_customer_ids=tuple(
                c for name in found.merged_customers if (c := _customer_id(name, workspace))
            ),
        )

    async def close(self) -> None:
        await self._channel.close()


def _change(response: identity_service_pb2.WatchChangesResponse, workspace: str) -> IdentityChange:
    change = response.change
    skipped = max(0, response.skipped_change_count)
    kind = _KINDS.get(change.kind)
    if kind is ChangeKind.RULES_UPDATED:
        return IdentityChange(change.cursor, kind, skipped_before=skipped)
    customer = _customer_id(change.customer, workspace)
    others = [_customer_id(name, workspace) for name in change.other_customers]
    if kind is None or not customer or not all(others):
        _log.warning(
            "identity change profile cannot read",
            extra={"workspace": workspace, "cursor": change.cursor},
        )
        return IdentityChange(change.cursor, None, skipped_before=skipped)
    return IdentityChange(
        change.cursor, kind, customer, tuple(c for c in others if c), skipped_before=skipped
    )


def _customer_id(name: str, workspace: str) -> str:
    """The customer id of a name of ``workspace``; "" for anything else."""
    try:
        ref = names.parse_customer(name, field="customer")
    except InvalidArgument:
        return ""
    return ref.customer_id if ref.workspace == workspace else ""
