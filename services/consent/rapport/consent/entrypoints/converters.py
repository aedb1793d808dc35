"""Protobuf <-> commands and domain results. Decoding only: the rules live below.

A request value that cannot be decoded at all (an enum number this version does not
know, a timestamp outside google.protobuf.Timestamp's range or with nanos outside
0..999,999,999: rapport.wellknowntypes) is InvalidArgument here; everything else is
validated by the service layer.
"""

from __future__ import annotations

from google.rpc import status_pb2
from rapport.consent.domain import names
from rapport.consent.domain.model import Channel, ConsentDecision, ConsentEntry, ConsentState
from rapport.consent.domain.subject_requests import (
    RequestState,
    RequestType,
    Step,
    StepState,
    SubjectRequest,
)
from rapport.consent.service_layer import commands
from rapport.consent.service_layer.handlers import ConsentRecordsPage
from rapport.consent.service_layer.subject_requests import SubjectRequestsPage
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


# --- data subject requests ----------------------------------------------------------------

_REQUEST_TYPES = {
    pb.DATA_SUBJECT_REQUEST_TYPE_ACCESS: RequestType.ACCESS,
    pb.DATA_SUBJECT_REQUEST_TYPE_ERASURE: RequestType.ERASURE,
}
_REQUEST_TYPE_NUMBERS = {value: number for number, value in _REQUEST_TYPES.items()}
_REQUEST_STATE_NUMBERS = {
    RequestState.RUNNING: pb.DataSubjectRequest.STATE_RUNNING,
    RequestState.SUCCEEDED: pb.DataSubjectRequest.STATE_SUCCEEDED,
}
_STEP_STATE_NUMBERS = {
    StepState.PENDING: pb.DataSubjectRequestStep.STATE_PENDING,
    StepState.SUCCEEDED: pb.DataSubjectRequestStep.STATE_SUCCEEDED,
}
_VIEWS = {
    pb.DATA_SUBJECT_REQUEST_VIEW_UNSPECIFIED: False,
    pb.DATA_SUBJECT_REQUEST_VIEW_BASIC: False,
    pb.DATA_SUBJECT_REQUEST_VIEW_FULL: True,
}


def _request_type(number: int, field: str) -> RequestType | None:
    if number == pb.DATA_SUBJECT_REQUEST_TYPE_UNSPECIFIED:
        return None
    try:
        return _REQUEST_TYPES[number]
    except KeyError:
        raise InvalidArgument(field, f"unknown data subject request type {number}") from None


def create_data_subject_request_command(
    request: pb.CreateDataSubjectRequestRequest,
) -> commands.CreateDataSubjectRequest:
    subject = request.data_subject_request
    return commands.CreateDataSubjectRequest(
        parent=request.parent,
        customer=subject.customer,
        type=_request_type(subject.type, "data_subject_request.type"),
        block_identifiers=subject.block_identifiers,
        request_id=request.request_id,
    )


def get_data_subject_request_command(
    request: pb.GetDataSubjectRequestRequest,
) -> commands.GetDataSubjectRequest:
    if request.view not in _VIEWS:
        raise InvalidArgument("view", f"unknown view {request.view}")
    return commands.GetDataSubjectRequest(name=request.name, full=_VIEWS[request.view])


def list_data_subject_requests_command(
    request: pb.ListDataSubjectRequestsRequest,
) -> commands.ListDataSubjectRequests:
    return commands.ListDataSubjectRequests(
        parent=request.parent,
        page_size=request.page_size,
        page_token=request.page_token,
        customer=request.customer,
    )


def _step(step: Step, full: bool) -> pb.DataSubjectRequestStep:
    running = step.running
    message = pb.DataSubjectRequestStep(
        service=step.service.value,
        state=pb.DataSubjectRequestStep.STATE_RUNNING
        if running
        else _STEP_STATE_NUMBERS[step.state],
        attempt_count=min(step.attempt_count, 2**31 - 1),
        data_json=step.data_json if full else "",
        record_count=step.record_count,
    )
    if step.last_error is not None:
        message.last_error.CopyFrom(
            status_pb2.Status(code=step.last_error.code, message=step.last_error.message)
        )
    if running and step.attempt_start_time is not None:
        # Being tried now: when it was due no longer says anything.
        message.attempt_start_time.CopyFrom(to_timestamp(step.attempt_start_time))
    elif step.next_attempt_time is not None:
        message.next_attempt_time.CopyFrom(to_timestamp(step.next_attempt_time))
    if step.complete_time is not None:
        message.complete_time.CopyFrom(to_timestamp(step.complete_time))
    return message


def data_subject_request(request: SubjectRequest, *, full: bool = False) -> pb.DataSubjectRequest:
    message = pb.DataSubjectRequest(
        name=request.name,
        customer=request.customer_name,
        type=_REQUEST_TYPE_NUMBERS[request.type],
        block_identifiers=request.block_identifiers,
        state=_REQUEST_STATE_NUMBERS[request.state],
        steps=[_step(step, full) for step in request.steps],
        create_time=to_timestamp(request.create_time),
        covered_customers=[
            names.customer_name(request.workspace, c) for c in request.covered_customer_ids
        ],
    )
    if request.complete_time is not None:
        message.complete_time.CopyFrom(to_timestamp(request.complete_time))
    if request.expire_time is not None:
        message.expire_time.CopyFrom(to_timestamp(request.expire_time))
    return message


def list_data_subject_requests_response(
    page: SubjectRequestsPage,
) -> pb.ListDataSubjectRequestsResponse:
    return pb.ListDataSubjectRequestsResponse(
        data_subject_requests=[data_subject_request(r) for r in page.requests],
        next_page_token=page.next_page_token,
    )
