"""Outbound port: the consent ledger of a workspace as it is committed
(ConsentService.WatchConsentRecords), for cancelling queued messages on opt-outs."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.delivery.domain import names
from rapport.delivery.domain.channel_choice import parse_channel_name
from rapport.delivery.domain.model import Channel
from rapport.type.v1 import channel_pb2

from .upstream import as_upstream_unavailable


@dataclass(frozen=True)
class ConsentChange:
    # The entry's ledger position (resume after it).
    cursor: int
    customer: str  # workspaces/{workspace}/customers/{customer}
    purpose: str
    # None: a channel this version does not know.
    channel: Channel | None
    denied: bool


class ConsentFeed(abc.ABC):
    @abc.abstractmethod
    def changes(self, workspace: str, *, after: int) -> AsyncIterator[ConsentChange]:
        """Every entry past `after`, then each new one; raises UpstreamUnavailable when
        the stream fails (the caller resumes from the last cursor it handled)."""


def _channel(value: int) -> Channel | None:
    try:
        return parse_channel_name(channel_pb2.Channel.Name(value))
    except ValueError:
        return None


class GrpcConsentFeed(ConsentFeed):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)

    async def changes(self, workspace: str, *, after: int) -> AsyncIterator[ConsentChange]:
        request = consent_service_pb2.WatchConsentRecordsRequest(
            parent=names.workspace_name(workspace), start_cursor=str(after) if after else ""
        )
        # Streams get no default deadline (rapport.grpcclients): it lasts while we follow.
        call = self._stub.WatchConsentRecords(request)
        try:
            async for response in call:
                record = response.consent_record
                yield ConsentChange(
                    cursor=int(response.cursor),
                    customer=record.customer,
                    purpose=record.purpose,
                    channel=_channel(record.channel),
                    denied=record.state == consent_service_pb2.CONSENT_STATE_DENIED,
                )
        except grpc.aio.AioRpcError as err:
            raise as_upstream_unavailable("consent", err) from None
        finally:
            call.cancel()
