import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rapport.type.v1 import channel_pb2 as _channel_pb2
from rapport.type.v1 import message_content_pb2 as _message_content_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutcomeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_TYPE_UNSPECIFIED: _ClassVar[OutcomeType]
    OUTCOME_TYPE_IMPRESSION: _ClassVar[OutcomeType]
    OUTCOME_TYPE_CLICK: _ClassVar[OutcomeType]
    OUTCOME_TYPE_ACCEPT: _ClassVar[OutcomeType]
    OUTCOME_TYPE_REJECT: _ClassVar[OutcomeType]
    OUTCOME_TYPE_CONVERSION: _ClassVar[OutcomeType]
OUTCOME_TYPE_UNSPECIFIED: OutcomeType
OUTCOME_TYPE_IMPRESSION: OutcomeType
OUTCOME_TYPE_CLICK: OutcomeType
OUTCOME_TYPE_ACCEPT: OutcomeType
OUTCOME_TYPE_REJECT: OutcomeType
OUTCOME_TYPE_CONVERSION: OutcomeType

class Action(_message.Message):
    __slots__ = ("name", "display_name", "description", "channels", "purpose", "value", "lever", "base_propensity", "eligibility", "content", "start_time", "end_time", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LEVER_FIELD_NUMBER: _ClassVar[int]
    BASE_PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    ELIGIBILITY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    channels: _containers.RepeatedScalarFieldContainer[_channel_pb2.Channel]
    purpose: str
    value: float
    lever: float
    base_propensity: float
    eligibility: str
    content: _message_content_pb2.MessageContent
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[_channel_pb2.Channel, str]]] = ..., purpose: _Optional[str] = ..., value: _Optional[float] = ..., lever: _Optional[float] = ..., base_propensity: _Optional[float] = ..., eligibility: _Optional[str] = ..., content: _Optional[_Union[_message_content_pb2.MessageContent, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateActionRequest(_message.Message):
    __slots__ = ("parent", "action_id", "action")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    action_id: str
    action: Action
    def __init__(self, parent: _Optional[str] = ..., action_id: _Optional[str] = ..., action: _Optional[_Union[Action, _Mapping]] = ...) -> None: ...

class GetActionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListActionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListActionsResponse(_message.Message):
    __slots__ = ("actions", "next_page_token")
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[Action]
    next_page_token: str
    def __init__(self, actions: _Optional[_Iterable[_Union[Action, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteActionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("parent", "customer", "context", "channel", "max_actions")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    customer: str
    context: _struct_pb2.Struct
    channel: _channel_pb2.Channel
    max_actions: int
    def __init__(self, parent: _Optional[str] = ..., customer: _Optional[str] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., max_actions: _Optional[int] = ...) -> None: ...

class ScoreParts(_message.Message):
    __slots__ = ("propensity", "context_weight", "value", "lever")
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LEVER_FIELD_NUMBER: _ClassVar[int]
    propensity: float
    context_weight: float
    value: float
    lever: float
    def __init__(self, propensity: _Optional[float] = ..., context_weight: _Optional[float] = ..., value: _Optional[float] = ..., lever: _Optional[float] = ...) -> None: ...

class RankedAction(_message.Message):
    __slots__ = ("action", "rank", "priority", "score", "probability", "channel", "explanation")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    action: str
    rank: int
    priority: float
    score: ScoreParts
    probability: float
    channel: _channel_pb2.Channel
    explanation: str
    def __init__(self, action: _Optional[str] = ..., rank: _Optional[int] = ..., priority: _Optional[float] = ..., score: _Optional[_Union[ScoreParts, _Mapping]] = ..., probability: _Optional[float] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., explanation: _Optional[str] = ...) -> None: ...

class ExcludedAction(_message.Message):
    __slots__ = ("action", "reason", "explanation")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    action: str
    reason: str
    explanation: str
    def __init__(self, action: _Optional[str] = ..., reason: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ("decision", "actions", "excluded_actions")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    decision: str
    actions: _containers.RepeatedCompositeFieldContainer[RankedAction]
    excluded_actions: _containers.RepeatedCompositeFieldContainer[ExcludedAction]
    def __init__(self, decision: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[RankedAction, _Mapping]]] = ..., excluded_actions: _Optional[_Iterable[_Union[ExcludedAction, _Mapping]]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("name", "customer", "actions", "excluded_actions", "channel", "source", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    actions: _containers.RepeatedCompositeFieldContainer[RankedAction]
    excluded_actions: _containers.RepeatedCompositeFieldContainer[ExcludedAction]
    channel: _channel_pb2.Channel
    source: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[RankedAction, _Mapping]]] = ..., excluded_actions: _Optional[_Iterable[_Union[ExcludedAction, _Mapping]]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., source: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDecisionsRequest(_message.Message):
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

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("name", "decision", "customer", "action", "type", "channel", "outcome_time", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: str
    customer: str
    action: str
    type: OutcomeType
    channel: _channel_pb2.Channel
    outcome_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[str] = ..., customer: _Optional[str] = ..., action: _Optional[str] = ..., type: _Optional[_Union[OutcomeType, str]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., outcome_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordOutcomeRequest(_message.Message):
    __slots__ = ("parent", "outcome")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    parent: str
    outcome: Outcome
    def __init__(self, parent: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ...) -> None: ...

class GetOutcomeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListOutcomesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "decision")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    decision: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., decision: _Optional[str] = ...) -> None: ...

class ListOutcomesResponse(_message.Message):
    __slots__ = ("outcomes", "next_page_token")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[Outcome]
    next_page_token: str
    def __init__(self, outcomes: _Optional[_Iterable[_Union[Outcome, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Trigger(_message.Message):
    __slots__ = ("name", "event_name", "condition", "action", "channel", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    event_name: str
    condition: str
    action: str
    channel: _channel_pb2.Channel
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., event_name: _Optional[str] = ..., condition: _Optional[str] = ..., action: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTriggerRequest(_message.Message):
    __slots__ = ("parent", "trigger_id", "trigger")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    trigger_id: str
    trigger: Trigger
    def __init__(self, parent: _Optional[str] = ..., trigger_id: _Optional[str] = ..., trigger: _Optional[_Union[Trigger, _Mapping]] = ...) -> None: ...

class GetTriggerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTriggersRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTriggersResponse(_message.Message):
    __slots__ = ("triggers", "next_page_token")
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    triggers: _containers.RepeatedCompositeFieldContainer[Trigger]
    next_page_token: str
    def __init__(self, triggers: _Optional[_Iterable[_Union[Trigger, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
