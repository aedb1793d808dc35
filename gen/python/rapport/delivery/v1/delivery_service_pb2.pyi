import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rapport.type.v1 import channel_pb2 as _channel_pb2
from rapport.type.v1 import identifier_pb2 as _identifier_pb2
from rapport.type.v1 import message_content_pb2 as _message_content_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_STATE_UNSPECIFIED: _ClassVar[MessageState]
    MESSAGE_STATE_QUEUED: _ClassVar[MessageState]
    MESSAGE_STATE_SENT: _ClassVar[MessageState]
    MESSAGE_STATE_SUPPRESSED: _ClassVar[MessageState]
    MESSAGE_STATE_FAILED: _ClassVar[MessageState]
    MESSAGE_STATE_SCHEDULED: _ClassVar[MessageState]
    MESSAGE_STATE_CAPPED: _ClassVar[MessageState]
    MESSAGE_STATE_DEAD_LETTERED: _ClassVar[MessageState]
    MESSAGE_STATE_CANCELLED: _ClassVar[MessageState]
    MESSAGE_STATE_DELIVERED: _ClassVar[MessageState]
    MESSAGE_STATE_BOUNCED: _ClassVar[MessageState]
    MESSAGE_STATE_SENDING: _ClassVar[MessageState]

class MessagePriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_PRIORITY_UNSPECIFIED: _ClassVar[MessagePriority]
    MESSAGE_PRIORITY_NORMAL: _ClassVar[MessagePriority]
    MESSAGE_PRIORITY_CRITICAL: _ClassVar[MessagePriority]

class ProviderEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVIDER_EVENT_TYPE_UNSPECIFIED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_DELIVERED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_BOUNCED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_SOFT_BOUNCED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_FAILED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_OPENED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_CLICKED: _ClassVar[ProviderEventType]
    PROVIDER_EVENT_TYPE_COMPLAINED: _ClassVar[ProviderEventType]

class ProviderEventOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVIDER_EVENT_OUTCOME_UNSPECIFIED: _ClassVar[ProviderEventOutcome]
    PROVIDER_EVENT_OUTCOME_APPLIED: _ClassVar[ProviderEventOutcome]
    PROVIDER_EVENT_OUTCOME_DUPLICATE: _ClassVar[ProviderEventOutcome]
    PROVIDER_EVENT_OUTCOME_UNKNOWN_MESSAGE: _ClassVar[ProviderEventOutcome]
    PROVIDER_EVENT_OUTCOME_NOT_APPLICABLE: _ClassVar[ProviderEventOutcome]

class MessageView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_VIEW_UNSPECIFIED: _ClassVar[MessageView]
    MESSAGE_VIEW_BASIC: _ClassVar[MessageView]
    MESSAGE_VIEW_FULL: _ClassVar[MessageView]

class SmsEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SMS_ENCODING_UNSPECIFIED: _ClassVar[SmsEncoding]
    SMS_ENCODING_GSM_7: _ClassVar[SmsEncoding]
    SMS_ENCODING_UCS_2: _ClassVar[SmsEncoding]
MESSAGE_STATE_UNSPECIFIED: MessageState
MESSAGE_STATE_QUEUED: MessageState
MESSAGE_STATE_SENT: MessageState
MESSAGE_STATE_SUPPRESSED: MessageState
MESSAGE_STATE_FAILED: MessageState
MESSAGE_STATE_SCHEDULED: MessageState
MESSAGE_STATE_CAPPED: MessageState
MESSAGE_STATE_DEAD_LETTERED: MessageState
MESSAGE_STATE_CANCELLED: MessageState
MESSAGE_STATE_DELIVERED: MessageState
MESSAGE_STATE_BOUNCED: MessageState
MESSAGE_STATE_SENDING: MessageState
MESSAGE_PRIORITY_UNSPECIFIED: MessagePriority
MESSAGE_PRIORITY_NORMAL: MessagePriority
MESSAGE_PRIORITY_CRITICAL: MessagePriority
PROVIDER_EVENT_TYPE_UNSPECIFIED: ProviderEventType
PROVIDER_EVENT_TYPE_DELIVERED: ProviderEventType
PROVIDER_EVENT_TYPE_BOUNCED: ProviderEventType
PROVIDER_EVENT_TYPE_SOFT_BOUNCED: ProviderEventType
PROVIDER_EVENT_TYPE_FAILED: ProviderEventType
PROVIDER_EVENT_TYPE_OPENED: ProviderEventType
PROVIDER_EVENT_TYPE_CLICKED: ProviderEventType
PROVIDER_EVENT_TYPE_COMPLAINED: ProviderEventType
PROVIDER_EVENT_OUTCOME_UNSPECIFIED: ProviderEventOutcome
PROVIDER_EVENT_OUTCOME_APPLIED: ProviderEventOutcome
PROVIDER_EVENT_OUTCOME_DUPLICATE: ProviderEventOutcome
PROVIDER_EVENT_OUTCOME_UNKNOWN_MESSAGE: ProviderEventOutcome
PROVIDER_EVENT_OUTCOME_NOT_APPLICABLE: ProviderEventOutcome
MESSAGE_VIEW_UNSPECIFIED: MessageView
MESSAGE_VIEW_BASIC: MessageView
MESSAGE_VIEW_FULL: MessageView
SMS_ENCODING_UNSPECIFIED: SmsEncoding
SMS_ENCODING_GSM_7: SmsEncoding
SMS_ENCODING_UCS_2: SmsEncoding

class ChannelSelection(_message.Message):
    __slots__ = ("candidate_channels", "reason", "explanation", "evaluations", "select_time")
    CANDIDATE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    SELECT_TIME_FIELD_NUMBER: _ClassVar[int]
    candidate_channels: _containers.RepeatedScalarFieldContainer[_channel_pb2.Channel]
    reason: str
    explanation: str
    evaluations: _containers.RepeatedCompositeFieldContainer[ChannelEvaluation]
    select_time: _timestamp_pb2.Timestamp
    def __init__(self, candidate_channels: _Optional[_Iterable[_Union[_channel_pb2.Channel, str]]] = ..., reason: _Optional[str] = ..., explanation: _Optional[str] = ..., evaluations: _Optional[_Iterable[_Union[ChannelEvaluation, _Mapping]]] = ..., select_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ChannelEvaluation(_message.Message):
    __slots__ = ("channel", "status", "preferred", "cost_rank")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_FIELD_NUMBER: _ClassVar[int]
    COST_RANK_FIELD_NUMBER: _ClassVar[int]
    channel: _channel_pb2.Channel
    status: str
    preferred: bool
    cost_rank: int
    def __init__(self, channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., status: _Optional[str] = ..., preferred: _Optional[bool] = ..., cost_rank: _Optional[int] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("name", "customer", "purpose", "channel", "idempotency_key", "state", "attempt_count", "provider", "provider_message_id", "failure_reason", "source", "create_time", "update_time", "send_time", "template", "locale", "failure_detail", "priority", "channel_selection", "scheduled_time", "schedule_reason", "last_error", "status_history", "delivery_time", "open_time", "click_time", "erase_time", "open_count", "click_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_SELECTION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_TIME_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    STATUS_HISTORY_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    CLICK_TIME_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    CLICK_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    purpose: str
    channel: _channel_pb2.Channel
    idempotency_key: str
    state: MessageState
    attempt_count: int
    provider: str
    provider_message_id: str
    failure_reason: str
    source: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    send_time: _timestamp_pb2.Timestamp
    template: str
    locale: str
    failure_detail: str
    priority: MessagePriority
    channel_selection: ChannelSelection
    scheduled_time: _timestamp_pb2.Timestamp
    schedule_reason: str
    last_error: str
    status_history: _containers.RepeatedCompositeFieldContainer[StatusChange]
    delivery_time: _timestamp_pb2.Timestamp
    open_time: _timestamp_pb2.Timestamp
    click_time: _timestamp_pb2.Timestamp
    erase_time: _timestamp_pb2.Timestamp
    open_count: int
    click_count: int
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., purpose: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., idempotency_key: _Optional[str] = ..., state: _Optional[_Union[MessageState, str]] = ..., attempt_count: _Optional[int] = ..., provider: _Optional[str] = ..., provider_message_id: _Optional[str] = ..., failure_reason: _Optional[str] = ..., source: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., template: _Optional[str] = ..., locale: _Optional[str] = ..., failure_detail: _Optional[str] = ..., priority: _Optional[_Union[MessagePriority, str]] = ..., channel_selection: _Optional[_Union[ChannelSelection, _Mapping]] = ..., scheduled_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., schedule_reason: _Optional[str] = ..., last_error: _Optional[str] = ..., status_history: _Optional[_Iterable[_Union[StatusChange, _Mapping]]] = ..., delivery_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., click_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_count: _Optional[int] = ..., click_count: _Optional[int] = ...) -> None: ...

class StatusChange(_message.Message):
    __slots__ = ("status", "reason", "change_time", "reporter")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    status: str
    reason: str
    change_time: _timestamp_pb2.Timestamp
    reporter: str
    def __init__(self, status: _Optional[str] = ..., reason: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reporter: _Optional[str] = ...) -> None: ...

class ReportProviderEventRequest(_message.Message):
    __slots__ = ("parent", "message", "provider", "provider_message_id", "type", "event_time", "reason")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    parent: str
    message: str
    provider: str
    provider_message_id: str
    type: ProviderEventType
    event_time: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, parent: _Optional[str] = ..., message: _Optional[str] = ..., provider: _Optional[str] = ..., provider_message_id: _Optional[str] = ..., type: _Optional[_Union[ProviderEventType, str]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ReportProviderEventResponse(_message.Message):
    __slots__ = ("message", "outcome")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    message: str
    outcome: ProviderEventOutcome
    def __init__(self, message: _Optional[str] = ..., outcome: _Optional[_Union[ProviderEventOutcome, str]] = ...) -> None: ...

class ExportCustomerMessagesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportedMessage(_message.Message):
    __slots__ = ("message", "content", "data", "recipient", "inbox_message", "identifiers")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    INBOX_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    message: Message
    content: _message_content_pb2.MessageContent
    data: _struct_pb2.Struct
    recipient: str
    inbox_message: InboxMessage
    identifiers: _containers.RepeatedCompositeFieldContainer[_identifier_pb2.Identifier]
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ..., content: _Optional[_Union[_message_content_pb2.MessageContent, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., recipient: _Optional[str] = ..., inbox_message: _Optional[_Union[InboxMessage, _Mapping]] = ..., identifiers: _Optional[_Iterable[_Union[_identifier_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class ExportCustomerMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ExportedMessage]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[ExportedMessage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EraseCustomerMessagesRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class EraseCustomerMessagesResponse(_message.Message):
    __slots__ = ("erased_message_count", "cancelled_message_count")
    ERASED_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    erased_message_count: int
    cancelled_message_count: int
    def __init__(self, erased_message_count: _Optional[int] = ..., cancelled_message_count: _Optional[int] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("parent", "idempotency_key", "customer", "purpose", "channel", "content", "data", "source", "template", "best_channel", "candidate_channels", "priority")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    BEST_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    idempotency_key: str
    customer: str
    purpose: str
    channel: _channel_pb2.Channel
    content: _message_content_pb2.MessageContent
    data: _struct_pb2.Struct
    source: str
    template: str
    best_channel: bool
    candidate_channels: _containers.RepeatedScalarFieldContainer[_channel_pb2.Channel]
    priority: MessagePriority
    def __init__(self, parent: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., customer: _Optional[str] = ..., purpose: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., content: _Optional[_Union[_message_content_pb2.MessageContent, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., source: _Optional[str] = ..., template: _Optional[str] = ..., best_channel: _Optional[bool] = ..., candidate_channels: _Optional[_Iterable[_Union[_channel_pb2.Channel, str]]] = ..., priority: _Optional[_Union[MessagePriority, str]] = ...) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ("name", "view")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    name: str
    view: MessageView
    def __init__(self, name: _Optional[str] = ..., view: _Optional[_Union[MessageView, str]] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "customer", "filter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    customer: str
    filter: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., customer: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class BatchSendMessagesRequest(_message.Message):
    __slots__ = ("parent", "requests")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    requests: _containers.RepeatedCompositeFieldContainer[SendMessageRequest]
    def __init__(self, parent: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[SendMessageRequest, _Mapping]]] = ...) -> None: ...

class BatchSendMessagesResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class RetryMessageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class InboxMessage(_message.Message):
    __slots__ = ("name", "message", "purpose", "subject", "text_body", "html_body", "data", "create_time", "read_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    READ_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    message: str
    purpose: str
    subject: str
    text_body: str
    html_body: str
    data: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    read_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., message: _Optional[str] = ..., purpose: _Optional[str] = ..., subject: _Optional[str] = ..., text_body: _Optional[str] = ..., html_body: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetInboxMessageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListInboxMessagesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "unread_only")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREAD_ONLY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    unread_only: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., unread_only: _Optional[bool] = ...) -> None: ...

class ListInboxMessagesResponse(_message.Message):
    __slots__ = ("inbox_messages", "next_page_token")
    INBOX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    inbox_messages: _containers.RepeatedCompositeFieldContainer[InboxMessage]
    next_page_token: str
    def __init__(self, inbox_messages: _Optional[_Iterable[_Union[InboxMessage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarkInboxMessageReadRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("name", "display_name", "default_locale", "contents", "sample_traits", "sample_data", "create_time", "update_time")
    class ContentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TemplateContent
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TemplateContent, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LOCALE_FIELD_NUMBER: _ClassVar[int]
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TRAITS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_DATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    default_locale: str
    contents: _containers.MessageMap[str, TemplateContent]
    sample_traits: _struct_pb2.Struct
    sample_data: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., default_locale: _Optional[str] = ..., contents: _Optional[_Mapping[str, TemplateContent]] = ..., sample_traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sample_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TemplateContent(_message.Message):
    __slots__ = ("subject", "text_body", "html_body", "sms_body", "push_body")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    SMS_BODY_FIELD_NUMBER: _ClassVar[int]
    PUSH_BODY_FIELD_NUMBER: _ClassVar[int]
    subject: str
    text_body: str
    html_body: str
    sms_body: str
    push_body: str
    def __init__(self, subject: _Optional[str] = ..., text_body: _Optional[str] = ..., html_body: _Optional[str] = ..., sms_body: _Optional[str] = ..., push_body: _Optional[str] = ...) -> None: ...

class CreateTemplateRequest(_message.Message):
    __slots__ = ("parent", "template_id", "template")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    template_id: str
    template: Template
    def __init__(self, parent: _Optional[str] = ..., template_id: _Optional[str] = ..., template: _Optional[_Union[Template, _Mapping]] = ...) -> None: ...

class GetTemplateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates", "next_page_token")
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    next_page_token: str
    def __init__(self, templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTemplateRequest(_message.Message):
    __slots__ = ("template", "update_mask")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    template: Template
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, template: _Optional[_Union[Template, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteTemplateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RenderTemplateRequest(_message.Message):
    __slots__ = ("parent", "template", "inline_template", "customer", "traits", "data", "locale", "channel", "purpose")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    INLINE_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    template: str
    inline_template: Template
    customer: str
    traits: _struct_pb2.Struct
    data: _struct_pb2.Struct
    locale: str
    channel: _channel_pb2.Channel
    purpose: str
    def __init__(self, parent: _Optional[str] = ..., template: _Optional[str] = ..., inline_template: _Optional[_Union[Template, _Mapping]] = ..., customer: _Optional[str] = ..., traits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., locale: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., purpose: _Optional[str] = ...) -> None: ...

class RenderTemplateResponse(_message.Message):
    __slots__ = ("locale", "content", "channel", "sms")
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SMS_FIELD_NUMBER: _ClassVar[int]
    locale: str
    content: _message_content_pb2.MessageContent
    channel: _channel_pb2.Channel
    sms: SmsLength
    def __init__(self, locale: _Optional[str] = ..., content: _Optional[_Union[_message_content_pb2.MessageContent, _Mapping]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., sms: _Optional[_Union[SmsLength, _Mapping]] = ...) -> None: ...

class SmsLength(_message.Message):
    __slots__ = ("encoding", "unit_count", "segment_count", "max_segment_count")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    UNIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    encoding: SmsEncoding
    unit_count: int
    segment_count: int
    max_segment_count: int
    def __init__(self, encoding: _Optional[_Union[SmsEncoding, str]] = ..., unit_count: _Optional[int] = ..., segment_count: _Optional[int] = ..., max_segment_count: _Optional[int] = ...) -> None: ...
