"""Identity's WatchChanges stream (contract rapport.identity.v1) as consent's customer ids."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

import grpc
from rapport.config import ServiceSettings
from rapport.consent.domain import names
from rapport.grpcclients import open_channel
from rapport.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

_log = logging.getLogger(__name__)


class IdentityUnavailable(Exception):
    """The stream failed or ended: follow again from the stored cursor."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ChangeKind(StrEnum):
    CREATED = "created"
    MERGED = "merged"
    UNMERGED = "unmerged"
    ERASED = "erased"
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
    """One change. ``kind`` None: a change consent cannot read (an unknown kind, a
    customer of another workspace...): skipped, its cursor kept."""

    cursor: str
    kind: ChangeKind | None
    # MERGED: the survivor; UNMERGED: the customer the others were split off.
    customer_id: str = ""
    # MERGED: the customers merged in; UNMERGED: the customers restored.
    other_customer_ids: tuple[str, ...] = ()


class IdentityChanges:
    """WatchChanges of one identity service."""

    def __init__(self, address: str, settings: ServiceSettings) -> None:
        self._channel = open_channel(address, settings)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)

    async def watch(self, workspace: str, start_cursor: str) -> AsyncIterator[IdentityChange]:
        """The workspace's changes after ``start_cursor``; IdentityUnavailable when the
        stream fails or ends."""
        request = identity_service_pb2.WatchChangesRequest(
            parent=names.workspace_name(workspace), start_cursor=start_cursor
        )
        call = self._stub.WatchChanges(request)
        try:
            async for response in call:
                yield change_from_proto(response.change, workspace)
        except grpc.aio.AioRpcError as err:
            raise IdentityUnavailable(err.code().name) from None
        finally:
            call.cancel()
        raise IdentityUnavailable("STREAM_ENDED")

    async def close(self) -> None:
        await self._channel.close()


def change_from_proto(change: identity_service_pb2.Change, workspace: str) -> IdentityChange:
    kind = _KINDS.get(change.kind)
    if kind is ChangeKind.RULES_UPDATED:
        return IdentityChange(change.cursor, kind)
    customer = names.customer_id_in(change.customer, workspace)
    others = [names.customer_id_in(name, workspace) for name in change.other_customers]
    if kind is None or not customer or not all(others):
        _log.warning(
            "identity change consent cannot read",
            extra={"workspace": workspace, "cursor": change.cursor},
        )
        return IdentityChange(change.cursor, None)
    return IdentityChange(change.cursor, kind, customer, tuple(others))
