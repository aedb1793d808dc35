"""Protobuf <-> commands and domain results. Decoding only: the rules live below.

A request value that cannot be decoded at all (an enum number this version does not
know, a timestamp outside google.protobuf.Timestamp's range or with nanos outside
0..999,999,999: rapport.wellknowntypes) is InvalidArgument here; everything else is
validated by the service layer.
"""

from __future__ import annotations

from rapport.consent.domain.model import Channel, ConsentDecision, ConsentEntry, ConsentState
from rapport.consent.service_layer import commands
from rapport.consent.service_layer.handlers import ConsentRecordsPage
from rapport.consent.service_layer.watch import WatchedEntry
from rapport.consent.v1 import consent_service_pb2 as pb
from rapport.errors import InvalidArgument
from rapport.type.v1 import channel_pb2
from rapport.wellknowntypes import to_datetime, to_timestamp

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
        effective_time=to_datetime(record, "effective_time", field_path="record.effective_time"),
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
        check_time=to_datetime(request, "check_time", field_path=f"{field_prefix}check_time"),
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


def _channel_number(channel: Channel | None) -> channel_pb2.Channel.ValueType:
    # CHANNEL_UNSPECIFIED: a stored channel this version does not know.
    return _CHANNEL_NUMBERS[channel] if channel is not None else channel_pb2.CHANNEL_UNSPECIFIED


def _state_number(state: ConsentState | None) -> pb.ConsentState.ValueType:
    # CONSENT_STATE_UNSPECIFIED: a stored state this version does not know.
    return _STATE_NUMBERS[state] if state is not None else pb.CONSENT_STATE_UNSPECIFIED


def consent_record(entry: ConsentEntry) -> pb.ConsentRecord:
    return pb.ConsentRecord(
        name=entry.name,
        customer=entry.customer_name,
        purpose=entry.purpose,
        channel=_channel_number(entry.channel),
        state=_state_number(entry.state),
        source=entry.source,
        notice_version=entry.notice_version,
        proof=entry.proof,
        effective_time=to_timestamp(entry.effective_time),
        record_time=to_timestamp(entry.record_time),
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


def watch_consent_records_command(
    request: pb.WatchConsentRecordsRequest,
) -> commands.WatchConsentRecords:
    return commands.WatchConsentRecords(parent=request.parent, start_cursor=request.start_cursor)


def watch_consent_records_response(watched: WatchedEntry) -> pb.WatchConsentRecordsResponse:
    return pb.WatchConsentRecordsResponse(
        consent_record=consent_record(watched.entry),
        cursor=str(watched.cursor),
        skipped_record_count=min(watched.skipped, 2**31 - 1),
    )
