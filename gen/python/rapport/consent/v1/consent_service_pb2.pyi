import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from rapport.type.v1 import channel_pb2 as _channel_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATE_UNSPECIFIED: _ClassVar[ConsentState]
    CONSENT_STATE_GRANTED: _ClassVar[ConsentState]
    CONSENT_STATE_DENIED: _ClassVar[ConsentState]

class DataSubjectRequestType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_SUBJECT_REQUEST_TYPE_UNSPECIFIED: _ClassVar[DataSubjectRequestType]
    DATA_SUBJECT_REQUEST_TYPE_ACCESS: _ClassVar[DataSubjectRequestType]
    DATA_SUBJECT_REQUEST_TYPE_ERASURE: _ClassVar[DataSubjectRequestType]

class DataSubjectRequestView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_SUBJECT_REQUEST_VIEW_UNSPECIFIED: _ClassVar[DataSubjectRequestView]
    DATA_SUBJECT_REQUEST_VIEW_BASIC: _ClassVar[DataSubjectRequestView]
    DATA_SUBJECT_REQUEST_VIEW_FULL: _ClassVar[DataSubjectRequestView]
CONSENT_STATE_UNSPECIFIED: ConsentState
CONSENT_STATE_GRANTED: ConsentState
CONSENT_STATE_DENIED: ConsentState
DATA_SUBJECT_REQUEST_TYPE_UNSPECIFIED: DataSubjectRequestType
DATA_SUBJECT_REQUEST_TYPE_ACCESS: DataSubjectRequestType
DATA_SUBJECT_REQUEST_TYPE_ERASURE: DataSubjectRequestType
DATA_SUBJECT_REQUEST_VIEW_UNSPECIFIED: DataSubjectRequestView
DATA_SUBJECT_REQUEST_VIEW_BASIC: DataSubjectRequestView
DATA_SUBJECT_REQUEST_VIEW_FULL: DataSubjectRequestView

class ConsentRecord(_message.Message):
    __slots__ = ("name", "customer", "purpose", "channel", "state", "source", "notice_version", "proof", "effective_time", "record_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NOTICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    purpose: str
    channel: _channel_pb2.Channel
    state: ConsentState
    source: str
    notice_version: str
    proof: str
    effective_time: _timestamp_pb2.Timestamp
    record_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., purpose: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., state: _Optional[_Union[ConsentState, str]] = ..., source: _Optional[str] = ..., notice_version: _Optional[str] = ..., proof: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordConsentRequest(_message.Message):
    __slots__ = ("parent", "record")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    parent: str
    record: ConsentRecord
    def __init__(self, parent: _Optional[str] = ..., record: _Optional[_Union[ConsentRecord, _Mapping]] = ...) -> None: ...

class GetConsentRecordRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListConsentRecordsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "purpose", "channel")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    purpose: str
    channel: _channel_pb2.Channel
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., purpose: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ...) -> None: ...

class ListConsentRecordsResponse(_message.Message):
    __slots__ = ("consent_records", "next_page_token")
    CONSENT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consent_records: _containers.RepeatedCompositeFieldContainer[ConsentRecord]
    next_page_token: str
    def __init__(self, consent_records: _Optional[_Iterable[_Union[ConsentRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CheckConsentRequest(_message.Message):
    __slots__ = ("customer", "purpose", "channel", "check_time")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    customer: str
    purpose: str
    channel: _channel_pb2.Channel
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, customer: _Optional[str] = ..., purpose: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckConsentResponse(_message.Message):
    __slots__ = ("allowed", "state", "record", "reason")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    state: ConsentState
    record: ConsentRecord
    reason: str
    def __init__(self, allowed: _Optional[bool] = ..., state: _Optional[_Union[ConsentState, str]] = ..., record: _Optional[_Union[ConsentRecord, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class BatchCheckConsentRequest(_message.Message):
    __slots__ = ("parent", "requests")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    requests: _containers.RepeatedCompositeFieldContainer[CheckConsentRequest]
    def __init__(self, parent: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[CheckConsentRequest, _Mapping]]] = ...) -> None: ...

class BatchCheckConsentResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[CheckConsentResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[CheckConsentResponse, _Mapping]]] = ...) -> None: ...

class WatchConsentRecordsRequest(_message.Message):
    __slots__ = ("parent", "start_cursor")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    START_CURSOR_FIELD_NUMBER: _ClassVar[int]
    parent: str
    start_cursor: str
    def __init__(self, parent: _Optional[str] = ..., start_cursor: _Optional[str] = ...) -> None: ...

class WatchConsentRecordsResponse(_message.Message):
    __slots__ = ("consent_record", "cursor", "skipped_record_count")
    CONSENT_RECORD_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    consent_record: ConsentRecord
    cursor: str
    skipped_record_count: int
    def __init__(self, consent_record: _Optional[_Union[ConsentRecord, _Mapping]] = ..., cursor: _Optional[str] = ..., skipped_record_count: _Optional[int] = ...) -> None: ...

class DataSubjectRequest(_message.Message):
    __slots__ = ("name", "customer", "type", "block_identifiers", "state", "steps", "create_time", "complete_time", "expire_time", "covered_customers")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[DataSubjectRequest.State]
        STATE_RUNNING: _ClassVar[DataSubjectRequest.State]
        STATE_SUCCEEDED: _ClassVar[DataSubjectRequest.State]
    STATE_UNSPECIFIED: DataSubjectRequest.State
    STATE_RUNNING: DataSubjectRequest.State
    STATE_SUCCEEDED: DataSubjectRequest.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    COVERED_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    type: DataSubjectRequestType
    block_identifiers: bool
    state: DataSubjectRequest.State
    steps: _containers.RepeatedCompositeFieldContainer[DataSubjectRequestStep]
    create_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    covered_customers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., type: _Optional[_Union[DataSubjectRequestType, str]] = ..., block_identifiers: _Optional[bool] = ..., state: _Optional[_Union[DataSubjectRequest.State, str]] = ..., steps: _Optional[_Iterable[_Union[DataSubjectRequestStep, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., covered_customers: _Optional[_Iterable[str]] = ...) -> None: ...

class DataSubjectRequestStep(_message.Message):
    __slots__ = ("service", "state", "attempt_count", "last_error", "next_attempt_time", "complete_time", "data_json", "record_count", "attempt_start_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[DataSubjectRequestStep.State]
        STATE_PENDING: _ClassVar[DataSubjectRequestStep.State]
        STATE_SUCCEEDED: _ClassVar[DataSubjectRequestStep.State]
        STATE_RUNNING: _ClassVar[DataSubjectRequestStep.State]
    STATE_UNSPECIFIED: DataSubjectRequestStep.State
    STATE_PENDING: DataSubjectRequestStep.State
    STATE_SUCCEEDED: DataSubjectRequestStep.State
    STATE_RUNNING: DataSubjectRequestStep.State
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    service: str
    state: DataSubjectRequestStep.State
    attempt_count: int
    last_error: _status_pb2.Status
    next_attempt_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    data_json: str
    record_count: int
    attempt_start_time: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., state: _Optional[_Union[DataSubjectRequestStep.State, str]] = ..., attempt_count: _Optional[int] = ..., last_error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ..., record_count: _Optional[int] = ..., attempt_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDataSubjectRequestRequest(_message.Message):
    __slots__ = ("parent", "data_subject_request", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DATA_SUBJECT_REQUEST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    data_subject_request: DataSubjectRequest
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., data_subject_request: _Optional[_Union[DataSubjectRequest, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetDataSubjectRequestRequest(_message.Message):
    __slots__ = ("name", "view")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    name: str
    view: DataSubjectRequestView
    def __init__(self, name: _Optional[str] = ..., view: _Optional[_Union[DataSubjectRequestView, str]] = ...) -> None: ...

class ListDataSubjectRequestsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "customer")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    customer: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., customer: _Optional[str] = ...) -> None: ...

class ListDataSubjectRequestsResponse(_message.Message):
    __slots__ = ("data_subject_requests", "next_page_token")
    DATA_SUBJECT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    data_subject_requests: _containers.RepeatedCompositeFieldContainer[DataSubjectRequest]
    next_page_token: str
    def __init__(self, data_subject_requests: _Optional[_Iterable[_Union[DataSubjectRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
