"""Protobuf <-> commands and domain results. Decoding only: the rules live below.

A request value that cannot be decoded at all (an enum number this version does not
know, a timestamp outside google.protobuf.Timestamp's range) is InvalidArgument here;
everything else is validated by the service layer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from rapport.consent.domain.model import Channel, ConsentDecision, ConsentEntry, ConsentState
from rapport.consent.service_layer import commands
from rapport.consent.service_layer.handlers import ConsentRecordsPage
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.type.v1 import channel_pb2

_CHANNELS = {
    channel_pb2.CHANNEL_EMAIL: Channel.EMAIL,
    channel_pb2.CHANNEL_SMS: Channel.SMS,
    channel_pb2.CHANNEL_PUSH: Channel.PUSH,
    channel_pb2.CHANNEL_WEBHOOK: Channel.WEBHOOK,
    channel_pb2.CHANNEL_IN_APP: Channel.IN_APP,
    channel_pb2.CHANNEL_INBOUND: Channel.INBOUND,
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


# --- decoding -----------------------------------------------------------------------------


def _channel(number: int, field: str) -> Channel | None:
    """None for UNSPECIFIED; numbers this version does not know are refused."""
    if number == channel_pb2.CHANNEL_UNSPECIFIED:
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


def _time(message: Message, name: str, field: str) -> datetime | None:
    if not message.HasField(name):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, name)
    if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < 1_000_000_000):
        raise InvalidArgument(field, "is not a valid timestamp")
    return stamp.ToDatetime(tzinfo=UTC)


def record_consent_command(request: pb.RecordConsentRequest) -> commands.RecordConsent:
    record = request.record
    return commands.RecordConsent(
        parent=request.parent,
        purpose=record.purpose,
        channel=_channel(record.channel, "record.channel"),
        state=_state(record.state, "record.state"),
        source=record.source,
        notice_version=record.notice_version,
        proof=record.proof,
        effective_time=_time(record, "effective_time", "record.effective_time"),
    )


def get_consent_record_command(request: pb.GetConsentRecordRequest) -> commands.GetConsentRecord:
    return commands.GetConsentRecord(name=request.name)


def list_consent_records_command(
    request: pb.ListConsentRecordsRequest,
) -> commands.ListConsentRecords:
    return commands.ListConsentRecords(
        parent=request.parent,
        page_size=request.page_size,
        page_token=request.page_token,
        purpose=request.purpose,
        channel=_channel(request.channel, "channel"),
    )


def check_consent_command(
    request: pb.CheckConsentRequest, field_prefix: str = ""
) -> commands.CheckConsent:
    return commands.CheckConsent(
        customer=request.customer,
        purpose=request.purpose,
        channel=_channel(request.channel, f"{field_prefix}channel"),
        check_time=_time(request, "check_time", f"{field_prefix}check_time"),
    )


def batch_check_consent_command(
    request: pb.BatchCheckConsentRequest,
) -> commands.BatchCheckConsent:
    return commands.BatchCheckConsent(
        parent=request.parent,
        requests=tuple(
            check_consent_command(check, f"requests[{i}].")
            for i, check in enumerate(request.requests)
        ),
    )


# --- encoding -----------------------------------------------------------------------------


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def consent_record(entry: ConsentEntry) -> pb.ConsentRecord:
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


def list_consent_records_response(page: ConsentRecordsPage) -> pb.ListConsentRecordsResponse:
    return pb.ListConsentRecordsResponse(
        consent_records=[consent_record(entry) for entry in page.entries],
        next_page_token=page.next_page_token,
    )


def check_consent_response(decision: ConsentDecision) -> pb.CheckConsentResponse:
    response = pb.CheckConsentResponse(
        allowed=decision.allowed,
        state=_STATE_NUMBERS[decision.state],
        reason=decision.reason.value,
    )
    if decision.entry is not None:
        response.record.CopyFrom(consent_record(decision.entry))
    return response


def batch_check_consent_response(
    decisions: list[ConsentDecision],
) -> pb.BatchCheckConsentResponse:
    return pb.BatchCheckConsentResponse(
        responses=[check_consent_response(decision) for decision in decisions]
    )
