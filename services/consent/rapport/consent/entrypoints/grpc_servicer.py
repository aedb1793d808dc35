"""gRPC servicer: protobuf <-> commands and domain results, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2
from rapport.consent.domain.model import Channel, ConsentDecision, ConsentEntry, ConsentState
from rapport.consent.service_layer import commands, handlers
from rapport.consent.service_layer.handlers import ConsentDependencies
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.consent.v1 import consent_service_pb2_grpc as pb_grpc
from rapport.errors import InvalidArgument

_CHANNELS = {
    pb.CHANNEL_EMAIL: Channel.EMAIL,
    pb.CHANNEL_SMS: Channel.SMS,
    pb.CHANNEL_PUSH: Channel.PUSH,
    pb.CHANNEL_WEBHOOK: Channel.WEBHOOK,
    pb.CHANNEL_IN_APP: Channel.IN_APP,
}
_CHANNEL_NUMBERS = {channel: number for number, channel in _CHANNELS.items()}
_STATES = {
    pb.CONSENT_STATE_GRANTED: ConsentState.GRANTED,
    pb.CONSENT_STATE_DENIED: ConsentState.DENIED,
}
_STATE_NUMBERS = {state: number for number, state in _STATES.items()}

# google.protobuf.Timestamp's valid range: 0001-01-01 to 9999-12-31.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


def _channel(number: int, field: str) -> Channel | None:
    """None for UNSPECIFIED; numbers this version does not know are refused."""
    if number == pb.CHANNEL_UNSPECIFIED:
        return None
    try:
        return _CHANNELS[number]
    except KeyError:
        raise InvalidArgument(field, f"unknown channel {number}") from None


def _state(number: int, field: str) -> ConsentState | None:
    if number == pb.CONSENT_STATE_UNSPECIFIED:
        return None
    try:
        return _STATES[number]
    except KeyError:
        raise InvalidArgument(field, f"unknown consent state {number}") from None


def _time(message: object, name: str, field: str) -> datetime | None:
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, name)
    if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < 1_000_000_000):
        raise InvalidArgument(field, "is not a valid timestamp")
    return stamp.ToDatetime(tzinfo=UTC)


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def record_to_pb(entry: ConsentEntry) -> pb.ConsentRecord:
    return pb.ConsentRecord(
        name=entry.name,
        customer=entry.customer_name,
        purpose=entry.purpose,
        channel=_CHANNEL_NUMBERS[entry.channel],
        state=_STATE_NUMBERS[entry.state],
        source=entry.source,
        notice_version=entry.notice_version,
        proof=entry.proof,
        effective_time=_timestamp(entry.effective_time),
        record_time=_timestamp(entry.record_time),
    )


def decision_to_pb(decision: ConsentDecision) -> pb.CheckConsentResponse:
    response = pb.CheckConsentResponse(
        allowed=decision.allowed,
        state=_STATE_NUMBERS[decision.state],
        reason=decision.reason.value,
    )
    if decision.entry is not None:
        response.record.CopyFrom(record_to_pb(decision.entry))
    return response


def _check_command(request: pb.CheckConsentRequest, prefix: str = "") -> commands.CheckConsent:
    return commands.CheckConsent(
        customer=request.customer,
        purpose=request.purpose,
        channel=_channel(request.channel, f"{prefix}channel"),
        time=_time(request, "time", f"{prefix}time"),
    )


class ConsentServicer(pb_grpc.ConsentServiceServicer):
    def __init__(self, deps: ConsentDependencies) -> None:
        self._deps = deps

    async def RecordConsent(  # noqa: N802 - gRPC method name
        self, request: pb.RecordConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsentRecord:
        record = request.record
        entry = await handlers.record_consent(
            commands.RecordConsent(
                parent=request.parent,
                purpose=record.purpose,
                channel=_channel(record.channel, "record.channel"),
                state=_state(record.state, "record.state"),
                source=record.source,
                notice_version=record.notice_version,
                proof=record.proof,
                effective_time=_time(record, "effective_time", "record.effective_time"),
            ),
            self._deps,
        )
        return record_to_pb(entry)

    async def CheckConsent(  # noqa: N802
        self, request: pb.CheckConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckConsentResponse:
        decision = await handlers.check_consent(_check_command(request), self._deps)
        return decision_to_pb(decision)

    async def BatchCheckConsent(  # noqa: N802
        self, request: pb.BatchCheckConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchCheckConsentResponse:
        checks = [
            _check_command(check, f"requests[{i}].") for i, check in enumerate(request.requests)
        ]
        decisions = await handlers.batch_check_consent(
            commands.BatchCheckConsent(parent=request.parent, requests=checks), self._deps
        )
        return pb.BatchCheckConsentResponse(responses=[decision_to_pb(d) for d in decisions])

    async def ListConsentHistory(  # noqa: N802
        self, request: pb.ListConsentHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListConsentHistoryResponse:
        page = await handlers.list_consent_history(
            commands.ListConsentHistory(
                parent=request.parent,
                page_size=request.page_size,
                page_token=request.page_token,
                purpose=request.purpose,
                channel=_channel(request.channel, "channel"),
            ),
            self._deps,
        )
        return pb.ListConsentHistoryResponse(
            records=[record_to_pb(entry) for entry in page.entries],
            next_page_token=page.next_page_token,
        )
