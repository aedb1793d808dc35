import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
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

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_BANDIT: _ClassVar[ModelKind]
    MODEL_KIND_ONNX: _ClassVar[ModelKind]

class ModelMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_MODE_UNSPECIFIED: _ClassVar[ModelMode]
    MODEL_MODE_ACTIVE: _ClassVar[ModelMode]
    MODEL_MODE_SHADOW: _ClassVar[ModelMode]

class ExperimentStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPERIMENT_STRATEGY_UNSPECIFIED: _ClassVar[ExperimentStrategy]
    EXPERIMENT_STRATEGY_MODEL: _ClassVar[ExperimentStrategy]
    EXPERIMENT_STRATEGY_RULES_ONLY: _ClassVar[ExperimentStrategy]
    EXPERIMENT_STRATEGY_RANDOM: _ClassVar[ExperimentStrategy]
    EXPERIMENT_STRATEGY_CONTROL: _ClassVar[ExperimentStrategy]

class OutcomeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_TYPE_UNSPECIFIED: _ClassVar[OutcomeType]
    OUTCOME_TYPE_IMPRESSION: _ClassVar[OutcomeType]
    OUTCOME_TYPE_CLICK: _ClassVar[OutcomeType]
    OUTCOME_TYPE_ACCEPT: _ClassVar[OutcomeType]
    OUTCOME_TYPE_REJECT: _ClassVar[OutcomeType]
    OUTCOME_TYPE_CONVERSION: _ClassVar[OutcomeType]
    OUTCOME_TYPE_SENT: _ClassVar[OutcomeType]
    OUTCOME_TYPE_DELIVERED: _ClassVar[OutcomeType]
    OUTCOME_TYPE_OPENED: _ClassVar[OutcomeType]
    OUTCOME_TYPE_BOUNCED: _ClassVar[OutcomeType]

class TriggerBackfillState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_BACKFILL_STATE_UNSPECIFIED: _ClassVar[TriggerBackfillState]
    TRIGGER_BACKFILL_STATE_PENDING: _ClassVar[TriggerBackfillState]
    TRIGGER_BACKFILL_STATE_RUNNING: _ClassVar[TriggerBackfillState]
    TRIGGER_BACKFILL_STATE_SUCCEEDED: _ClassVar[TriggerBackfillState]

class TriggerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_KIND_UNSPECIFIED: _ClassVar[TriggerKind]
    TRIGGER_KIND_EVENT: _ClassVar[TriggerKind]
    TRIGGER_KIND_SEGMENT_ENTERED: _ClassVar[TriggerKind]
    TRIGGER_KIND_SEGMENT_EXITED: _ClassVar[TriggerKind]
    TRIGGER_KIND_LIFE_STAGE_CHANGED: _ClassVar[TriggerKind]
    TRIGGER_KIND_TIME_WINDOW: _ClassVar[TriggerKind]

class TriggerSignalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_SIGNAL_KIND_UNSPECIFIED: _ClassVar[TriggerSignalKind]
    TRIGGER_SIGNAL_KIND_EVENT_SEEN: _ClassVar[TriggerSignalKind]
    TRIGGER_SIGNAL_KIND_TRAIT_CHANGED: _ClassVar[TriggerSignalKind]
    TRIGGER_SIGNAL_KIND_SEGMENT_ENTERED: _ClassVar[TriggerSignalKind]
    TRIGGER_SIGNAL_KIND_SEGMENT_EXITED: _ClassVar[TriggerSignalKind]
    TRIGGER_SIGNAL_KIND_LIFE_STAGE_CHANGED: _ClassVar[TriggerSignalKind]
    TRIGGER_SIGNAL_KIND_TIME_WINDOW: _ClassVar[TriggerSignalKind]

class TriggerActivityOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_ACTIVITY_OUTCOME_UNSPECIFIED: _ClassVar[TriggerActivityOutcome]
    TRIGGER_ACTIVITY_OUTCOME_SENT: _ClassVar[TriggerActivityOutcome]
    TRIGGER_ACTIVITY_OUTCOME_SKIPPED: _ClassVar[TriggerActivityOutcome]
    TRIGGER_ACTIVITY_OUTCOME_FAILED: _ClassVar[TriggerActivityOutcome]

class PriorityPart(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_PART_UNSPECIFIED: _ClassVar[PriorityPart]
    PRIORITY_PART_PROPENSITY: _ClassVar[PriorityPart]
    PRIORITY_PART_CONTEXT_WEIGHT: _ClassVar[PriorityPart]
    PRIORITY_PART_VALUE: _ClassVar[PriorityPart]
    PRIORITY_PART_LEVER: _ClassVar[PriorityPart]

class ConfigChangeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIG_CHANGE_TYPE_UNSPECIFIED: _ClassVar[ConfigChangeType]
    CONFIG_CHANGE_TYPE_ADDED: _ClassVar[ConfigChangeType]
    CONFIG_CHANGE_TYPE_REMOVED: _ClassVar[ConfigChangeType]
    CONFIG_CHANGE_TYPE_CHANGED: _ClassVar[ConfigChangeType]
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_BANDIT: ModelKind
MODEL_KIND_ONNX: ModelKind
MODEL_MODE_UNSPECIFIED: ModelMode
MODEL_MODE_ACTIVE: ModelMode
MODEL_MODE_SHADOW: ModelMode
EXPERIMENT_STRATEGY_UNSPECIFIED: ExperimentStrategy
EXPERIMENT_STRATEGY_MODEL: ExperimentStrategy
EXPERIMENT_STRATEGY_RULES_ONLY: ExperimentStrategy
EXPERIMENT_STRATEGY_RANDOM: ExperimentStrategy
EXPERIMENT_STRATEGY_CONTROL: ExperimentStrategy
OUTCOME_TYPE_UNSPECIFIED: OutcomeType
OUTCOME_TYPE_IMPRESSION: OutcomeType
OUTCOME_TYPE_CLICK: OutcomeType
OUTCOME_TYPE_ACCEPT: OutcomeType
OUTCOME_TYPE_REJECT: OutcomeType
OUTCOME_TYPE_CONVERSION: OutcomeType
OUTCOME_TYPE_SENT: OutcomeType
OUTCOME_TYPE_DELIVERED: OutcomeType
OUTCOME_TYPE_OPENED: OutcomeType
OUTCOME_TYPE_BOUNCED: OutcomeType
TRIGGER_BACKFILL_STATE_UNSPECIFIED: TriggerBackfillState
TRIGGER_BACKFILL_STATE_PENDING: TriggerBackfillState
TRIGGER_BACKFILL_STATE_RUNNING: TriggerBackfillState
TRIGGER_BACKFILL_STATE_SUCCEEDED: TriggerBackfillState
TRIGGER_KIND_UNSPECIFIED: TriggerKind
TRIGGER_KIND_EVENT: TriggerKind
TRIGGER_KIND_SEGMENT_ENTERED: TriggerKind
TRIGGER_KIND_SEGMENT_EXITED: TriggerKind
TRIGGER_KIND_LIFE_STAGE_CHANGED: TriggerKind
TRIGGER_KIND_TIME_WINDOW: TriggerKind
TRIGGER_SIGNAL_KIND_UNSPECIFIED: TriggerSignalKind
TRIGGER_SIGNAL_KIND_EVENT_SEEN: TriggerSignalKind
TRIGGER_SIGNAL_KIND_TRAIT_CHANGED: TriggerSignalKind
TRIGGER_SIGNAL_KIND_SEGMENT_ENTERED: TriggerSignalKind
TRIGGER_SIGNAL_KIND_SEGMENT_EXITED: TriggerSignalKind
TRIGGER_SIGNAL_KIND_LIFE_STAGE_CHANGED: TriggerSignalKind
TRIGGER_SIGNAL_KIND_TIME_WINDOW: TriggerSignalKind
TRIGGER_ACTIVITY_OUTCOME_UNSPECIFIED: TriggerActivityOutcome
TRIGGER_ACTIVITY_OUTCOME_SENT: TriggerActivityOutcome
TRIGGER_ACTIVITY_OUTCOME_SKIPPED: TriggerActivityOutcome
TRIGGER_ACTIVITY_OUTCOME_FAILED: TriggerActivityOutcome
PRIORITY_PART_UNSPECIFIED: PriorityPart
PRIORITY_PART_PROPENSITY: PriorityPart
PRIORITY_PART_CONTEXT_WEIGHT: PriorityPart
PRIORITY_PART_VALUE: PriorityPart
PRIORITY_PART_LEVER: PriorityPart
CONFIG_CHANGE_TYPE_UNSPECIFIED: ConfigChangeType
CONFIG_CHANGE_TYPE_ADDED: ConfigChangeType
CONFIG_CHANGE_TYPE_REMOVED: ConfigChangeType
CONFIG_CHANGE_TYPE_CHANGED: ConfigChangeType

class Model(_message.Message):
    __slots__ = ("name", "kind", "mode", "display_name", "description", "features", "dimensions", "exploration", "prior_precision", "reward_outcome", "create_time", "update_time", "onnx_model", "onnx_sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    EXPLORATION_FIELD_NUMBER: _ClassVar[int]
    PRIOR_PRECISION_FIELD_NUMBER: _ClassVar[int]
    REWARD_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ONNX_MODEL_FIELD_NUMBER: _ClassVar[int]
    ONNX_SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ModelKind
    mode: ModelMode
    display_name: str
    description: str
    features: _containers.RepeatedScalarFieldContainer[str]
    dimensions: int
    exploration: float
    prior_precision: float
    reward_outcome: OutcomeType
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    onnx_model: bytes
    onnx_sha256: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., mode: _Optional[_Union[ModelMode, str]] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., dimensions: _Optional[int] = ..., exploration: _Optional[float] = ..., prior_precision: _Optional[float] = ..., reward_outcome: _Optional[_Union[OutcomeType, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., onnx_model: _Optional[bytes] = ..., onnx_sha256: _Optional[str] = ...) -> None: ...

class CreateModelRequest(_message.Message):
    __slots__ = ("parent", "model_id", "model")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    parent: str
    model_id: str
    model: Model
    def __init__(self, parent: _Optional[str] = ..., model_id: _Optional[str] = ..., model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateModelRequest(_message.Message):
    __slots__ = ("model", "update_mask")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    model: Model
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ShadowScore(_message.Message):
    __slots__ = ("model", "action", "propensity")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    model: str
    action: str
    propensity: float
    def __init__(self, model: _Optional[str] = ..., action: _Optional[str] = ..., propensity: _Optional[float] = ...) -> None: ...

class ExperimentArm(_message.Message):
    __slots__ = ("arm_id", "strategy", "weight")
    ARM_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    arm_id: str
    strategy: ExperimentStrategy
    weight: int
    def __init__(self, arm_id: _Optional[str] = ..., strategy: _Optional[_Union[ExperimentStrategy, str]] = ..., weight: _Optional[int] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("name", "display_name", "actions", "arms", "start_time", "end_time", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    actions: _containers.RepeatedScalarFieldContainer[str]
    arms: _containers.RepeatedCompositeFieldContainer[ExperimentArm]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ..., arms: _Optional[_Iterable[_Union[ExperimentArm, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateExperimentRequest(_message.Message):
    __slots__ = ("parent", "experiment_id", "experiment")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    experiment_id: str
    experiment: Experiment
    def __init__(self, parent: _Optional[str] = ..., experiment_id: _Optional[str] = ..., experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateExperimentRequest(_message.Message):
    __slots__ = ("experiment", "update_mask")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ("experiments", "next_page_token")
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[Experiment]
    next_page_token: str
    def __init__(self, experiments: _Optional[_Iterable[_Union[Experiment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteExperimentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetExperimentReportRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Proportion(_message.Message):
    __slots__ = ("estimate", "lower", "upper")
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    estimate: float
    lower: float
    upper: float
    def __init__(self, estimate: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ...) -> None: ...

class OutcomeCount(_message.Message):
    __slots__ = ("type", "customers", "count")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    type: OutcomeType
    customers: int
    count: int
    def __init__(self, type: _Optional[_Union[OutcomeType, str]] = ..., customers: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class ArmReport(_message.Message):
    __slots__ = ("arm_id", "strategy", "reach", "decisions", "outcomes", "conversions", "conversion_rate", "conversion_value", "uplift", "exposed_reach", "exposed_conversions")
    ARM_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    REACH_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_VALUE_FIELD_NUMBER: _ClassVar[int]
    UPLIFT_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_REACH_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    arm_id: str
    strategy: ExperimentStrategy
    reach: int
    decisions: int
    outcomes: _containers.RepeatedCompositeFieldContainer[OutcomeCount]
    conversions: int
    conversion_rate: Proportion
    conversion_value: float
    uplift: Proportion
    exposed_reach: int
    exposed_conversions: int
    def __init__(self, arm_id: _Optional[str] = ..., strategy: _Optional[_Union[ExperimentStrategy, str]] = ..., reach: _Optional[int] = ..., decisions: _Optional[int] = ..., outcomes: _Optional[_Iterable[_Union[OutcomeCount, _Mapping]]] = ..., conversions: _Optional[int] = ..., conversion_rate: _Optional[_Union[Proportion, _Mapping]] = ..., conversion_value: _Optional[float] = ..., uplift: _Optional[_Union[Proportion, _Mapping]] = ..., exposed_reach: _Optional[int] = ..., exposed_conversions: _Optional[int] = ...) -> None: ...

class ExperimentReport(_message.Message):
    __slots__ = ("experiment", "arms", "compute_time")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    arms: _containers.RepeatedCompositeFieldContainer[ArmReport]
    compute_time: _timestamp_pb2.Timestamp
    def __init__(self, experiment: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[ArmReport, _Mapping]]] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConversionRule(_message.Message):
    __slots__ = ("name", "action", "event_name", "window", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    action: str
    event_name: str
    window: _duration_pb2.Duration
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., action: _Optional[str] = ..., event_name: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateConversionRuleRequest(_message.Message):
    __slots__ = ("parent", "conversion_rule_id", "conversion_rule")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RULE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RULE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    conversion_rule_id: str
    conversion_rule: ConversionRule
    def __init__(self, parent: _Optional[str] = ..., conversion_rule_id: _Optional[str] = ..., conversion_rule: _Optional[_Union[ConversionRule, _Mapping]] = ...) -> None: ...

class UpdateConversionRuleRequest(_message.Message):
    __slots__ = ("conversion_rule", "update_mask")
    CONVERSION_RULE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    conversion_rule: ConversionRule
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, conversion_rule: _Optional[_Union[ConversionRule, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetConversionRuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListConversionRulesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversionRulesResponse(_message.Message):
    __slots__ = ("conversion_rules", "next_page_token")
    CONVERSION_RULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversion_rules: _containers.RepeatedCompositeFieldContainer[ConversionRule]
    next_page_token: str
    def __init__(self, conversion_rules: _Optional[_Iterable[_Union[ConversionRule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteConversionRuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ExportCustomerDecisionsRequest(_message.Message):
    __slots__ = ("parent", "customer", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    customer: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., customer: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportCustomerDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "outcomes", "next_page_token", "model_contributions", "trigger_activities")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    outcomes: _containers.RepeatedCompositeFieldContainer[Outcome]
    next_page_token: str
    model_contributions: _containers.RepeatedCompositeFieldContainer[ModelContribution]
    trigger_activities: _containers.RepeatedCompositeFieldContainer[TriggerActivity]
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ..., outcomes: _Optional[_Iterable[_Union[Outcome, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., model_contributions: _Optional[_Iterable[_Union[ModelContribution, _Mapping]]] = ..., trigger_activities: _Optional[_Iterable[_Union[TriggerActivity, _Mapping]]] = ...) -> None: ...

class ModelContribution(_message.Message):
    __slots__ = ("model", "action", "decision", "outcome", "exposed", "reward", "create_time")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    model: str
    action: str
    decision: str
    outcome: str
    exposed: bool
    reward: float
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[str] = ..., action: _Optional[str] = ..., decision: _Optional[str] = ..., outcome: _Optional[str] = ..., exposed: _Optional[bool] = ..., reward: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EraseCustomerDecisionsRequest(_message.Message):
    __slots__ = ("parent", "customer")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    customer: str
    def __init__(self, parent: _Optional[str] = ..., customer: _Optional[str] = ...) -> None: ...

class EraseCustomerDecisionsResponse(_message.Message):
    __slots__ = ("decision_count", "outcome_count", "contact_count", "sent_message_count", "schedule_count", "model_contribution_count", "trigger_activity_count")
    DECISION_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTACT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENT_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONTRIBUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ACTIVITY_COUNT_FIELD_NUMBER: _ClassVar[int]
    decision_count: int
    outcome_count: int
    contact_count: int
    sent_message_count: int
    schedule_count: int
    model_contribution_count: int
    trigger_activity_count: int
    def __init__(self, decision_count: _Optional[int] = ..., outcome_count: _Optional[int] = ..., contact_count: _Optional[int] = ..., sent_message_count: _Optional[int] = ..., schedule_count: _Optional[int] = ..., model_contribution_count: _Optional[int] = ..., trigger_activity_count: _Optional[int] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("name", "display_name", "description", "channels", "purpose", "value", "lever", "base_propensity", "eligibility", "content", "start_time", "end_time", "create_time", "group", "treatments", "tags", "applicability", "suitability", "update_time")
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
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TREATMENTS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_FIELD_NUMBER: _ClassVar[int]
    SUITABILITY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
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
    group: str
    treatments: _containers.RepeatedCompositeFieldContainer[Treatment]
    tags: _containers.RepeatedScalarFieldContainer[str]
    applicability: str
    suitability: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[_channel_pb2.Channel, str]]] = ..., purpose: _Optional[str] = ..., value: _Optional[float] = ..., lever: _Optional[float] = ..., base_propensity: _Optional[float] = ..., eligibility: _Optional[str] = ..., content: _Optional[_Union[_message_content_pb2.MessageContent, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., treatments: _Optional[_Iterable[_Union[Treatment, _Mapping]]] = ..., tags: _Optional[_Iterable[str]] = ..., applicability: _Optional[str] = ..., suitability: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Treatment(_message.Message):
    __slots__ = ("channel", "content")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    channel: _channel_pb2.Channel
    content: _message_content_pb2.MessageContent
    def __init__(self, channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., content: _Optional[_Union[_message_content_pb2.MessageContent, _Mapping]] = ...) -> None: ...

class UpdateActionRequest(_message.Message):
    __slots__ = ("action", "update_mask")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    action: Action
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, action: _Optional[_Union[Action, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("parent", "page_size", "page_token", "group")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    group: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("parent", "customer", "context", "channel", "max_actions", "placement", "device", "time_zone")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    customer: str
    context: _struct_pb2.Struct
    channel: _channel_pb2.Channel
    max_actions: int
    placement: str
    device: str
    time_zone: str
    def __init__(self, parent: _Optional[str] = ..., customer: _Optional[str] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., max_actions: _Optional[int] = ..., placement: _Optional[str] = ..., device: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("action", "reason", "explanation", "score", "priority")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    action: str
    reason: str
    explanation: str
    score: ScoreParts
    priority: float
    def __init__(self, action: _Optional[str] = ..., reason: _Optional[str] = ..., explanation: _Optional[str] = ..., score: _Optional[_Union[ScoreParts, _Mapping]] = ..., priority: _Optional[float] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ("decision", "actions", "excluded_actions", "config_version", "model", "features", "shadow_scores")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DECISION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SHADOW_SCORES_FIELD_NUMBER: _ClassVar[int]
    decision: str
    actions: _containers.RepeatedCompositeFieldContainer[RankedAction]
    excluded_actions: _containers.RepeatedCompositeFieldContainer[ExcludedAction]
    config_version: str
    model: str
    features: _containers.ScalarMap[str, float]
    shadow_scores: _containers.RepeatedCompositeFieldContainer[ShadowScore]
    def __init__(self, decision: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[RankedAction, _Mapping]]] = ..., excluded_actions: _Optional[_Iterable[_Union[ExcludedAction, _Mapping]]] = ..., config_version: _Optional[str] = ..., model: _Optional[str] = ..., features: _Optional[_Mapping[str, float]] = ..., shadow_scores: _Optional[_Iterable[_Union[ShadowScore, _Mapping]]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("name", "customer", "actions", "excluded_actions", "channel", "source", "create_time", "config_version", "experiment", "experiment_arm", "control", "model", "features", "shadow_scores")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ARM_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SHADOW_SCORES_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    actions: _containers.RepeatedCompositeFieldContainer[RankedAction]
    excluded_actions: _containers.RepeatedCompositeFieldContainer[ExcludedAction]
    channel: _channel_pb2.Channel
    source: str
    create_time: _timestamp_pb2.Timestamp
    config_version: str
    experiment: str
    experiment_arm: str
    control: bool
    model: str
    features: _containers.ScalarMap[str, float]
    shadow_scores: _containers.RepeatedCompositeFieldContainer[ShadowScore]
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[RankedAction, _Mapping]]] = ..., excluded_actions: _Optional[_Iterable[_Union[ExcludedAction, _Mapping]]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., source: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., config_version: _Optional[str] = ..., experiment: _Optional[str] = ..., experiment_arm: _Optional[str] = ..., control: _Optional[bool] = ..., model: _Optional[str] = ..., features: _Optional[_Mapping[str, float]] = ..., shadow_scores: _Optional[_Iterable[_Union[ShadowScore, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("name", "decision", "customer", "action", "type", "channel", "outcome_time", "create_time", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: str
    customer: str
    action: str
    type: OutcomeType
    channel: _channel_pb2.Channel
    outcome_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    value: float
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[str] = ..., customer: _Optional[str] = ..., action: _Optional[str] = ..., type: _Optional[_Union[OutcomeType, str]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., outcome_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ...) -> None: ...

class RecordOutcomeRequest(_message.Message):
    __slots__ = ("parent", "outcome", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    outcome: Outcome
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("name", "event_name", "condition", "action", "channel", "create_time", "update_time", "kind", "segment", "life_stage", "date_trait", "offset_days", "years_after", "throttle", "best_channel", "backfill_state", "backfill_profile_count", "backfill_complete_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    LIFE_STAGE_FIELD_NUMBER: _ClassVar[int]
    DATE_TRAIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_DAYS_FIELD_NUMBER: _ClassVar[int]
    YEARS_AFTER_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    BEST_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_STATE_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_PROFILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    event_name: str
    condition: str
    action: str
    channel: _channel_pb2.Channel
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    kind: TriggerKind
    segment: str
    life_stage: str
    date_trait: str
    offset_days: int
    years_after: int
    throttle: _duration_pb2.Duration
    best_channel: bool
    backfill_state: TriggerBackfillState
    backfill_profile_count: int
    backfill_complete_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., event_name: _Optional[str] = ..., condition: _Optional[str] = ..., action: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[TriggerKind, str]] = ..., segment: _Optional[str] = ..., life_stage: _Optional[str] = ..., date_trait: _Optional[str] = ..., offset_days: _Optional[int] = ..., years_after: _Optional[int] = ..., throttle: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., best_channel: _Optional[bool] = ..., backfill_state: _Optional[_Union[TriggerBackfillState, str]] = ..., backfill_profile_count: _Optional[int] = ..., backfill_complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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

class UpdateTriggerRequest(_message.Message):
    __slots__ = ("trigger", "update_mask")
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    trigger: Trigger
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, trigger: _Optional[_Union[Trigger, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteTriggerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TriggerActivity(_message.Message):
    __slots__ = ("name", "customer", "signal_kind", "signal_cursor", "event_message_id", "outcome", "reason", "decision", "message", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_KIND_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    customer: str
    signal_kind: TriggerSignalKind
    signal_cursor: str
    event_message_id: str
    outcome: TriggerActivityOutcome
    reason: str
    decision: str
    message: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., customer: _Optional[str] = ..., signal_kind: _Optional[_Union[TriggerSignalKind, str]] = ..., signal_cursor: _Optional[str] = ..., event_message_id: _Optional[str] = ..., outcome: _Optional[_Union[TriggerActivityOutcome, str]] = ..., reason: _Optional[str] = ..., decision: _Optional[str] = ..., message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetTriggerActivityRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListTriggerActivitiesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "customer", "outcome")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    customer: str
    outcome: TriggerActivityOutcome
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., customer: _Optional[str] = ..., outcome: _Optional[_Union[TriggerActivityOutcome, str]] = ...) -> None: ...

class ListTriggerActivitiesResponse(_message.Message):
    __slots__ = ("trigger_activities", "next_page_token")
    TRIGGER_ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trigger_activities: _containers.RepeatedCompositeFieldContainer[TriggerActivity]
    next_page_token: str
    def __init__(self, trigger_activities: _Optional[_Iterable[_Union[TriggerActivity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ActionGroup(_message.Message):
    __slots__ = ("name", "display_name", "description", "issue", "eligibility", "applicability", "suitability", "lever", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBILITY_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_FIELD_NUMBER: _ClassVar[int]
    SUITABILITY_FIELD_NUMBER: _ClassVar[int]
    LEVER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    issue: str
    eligibility: str
    applicability: str
    suitability: str
    lever: float
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., issue: _Optional[str] = ..., eligibility: _Optional[str] = ..., applicability: _Optional[str] = ..., suitability: _Optional[str] = ..., lever: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateActionGroupRequest(_message.Message):
    __slots__ = ("parent", "action_group_id", "action_group")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_GROUP_FIELD_NUMBER: _ClassVar[int]
    parent: str
    action_group_id: str
    action_group: ActionGroup
    def __init__(self, parent: _Optional[str] = ..., action_group_id: _Optional[str] = ..., action_group: _Optional[_Union[ActionGroup, _Mapping]] = ...) -> None: ...

class GetActionGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListActionGroupsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "issue")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    issue: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., issue: _Optional[str] = ...) -> None: ...

class ListActionGroupsResponse(_message.Message):
    __slots__ = ("action_groups", "next_page_token")
    ACTION_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    action_groups: _containers.RepeatedCompositeFieldContainer[ActionGroup]
    next_page_token: str
    def __init__(self, action_groups: _Optional[_Iterable[_Union[ActionGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateActionGroupRequest(_message.Message):
    __slots__ = ("action_group", "update_mask")
    ACTION_GROUP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    action_group: ActionGroup
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, action_group: _Optional[_Union[ActionGroup, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteActionGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ContactLimit(_message.Message):
    __slots__ = ("channels", "purposes", "max_contacts", "period")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[_channel_pb2.Channel]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    max_contacts: int
    period: _duration_pb2.Duration
    def __init__(self, channels: _Optional[_Iterable[_Union[_channel_pb2.Channel, str]]] = ..., purposes: _Optional[_Iterable[str]] = ..., max_contacts: _Optional[int] = ..., period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SuppressionRule(_message.Message):
    __slots__ = ("outcome_type", "outcome_count", "window", "duration", "tags")
    OUTCOME_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_COUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    outcome_type: OutcomeType
    outcome_count: int
    window: _duration_pb2.Duration
    duration: _duration_pb2.Duration
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, outcome_type: _Optional[_Union[OutcomeType, str]] = ..., outcome_count: _Optional[int] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class ContextWeight(_message.Message):
    __slots__ = ("condition", "weight")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    condition: str
    weight: float
    def __init__(self, condition: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class ArbitrationSettings(_message.Message):
    __slots__ = ("priority_parts", "context_weights")
    PRIORITY_PARTS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    priority_parts: _containers.RepeatedScalarFieldContainer[PriorityPart]
    context_weights: _containers.RepeatedCompositeFieldContainer[ContextWeight]
    def __init__(self, priority_parts: _Optional[_Iterable[_Union[PriorityPart, str]]] = ..., context_weights: _Optional[_Iterable[_Union[ContextWeight, _Mapping]]] = ...) -> None: ...

class DecisionSettings(_message.Message):
    __slots__ = ("name", "contact_limits", "suppression_rules", "arbitration", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSION_RULES_FIELD_NUMBER: _ClassVar[int]
    ARBITRATION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    contact_limits: _containers.RepeatedCompositeFieldContainer[ContactLimit]
    suppression_rules: _containers.RepeatedCompositeFieldContainer[SuppressionRule]
    arbitration: ArbitrationSettings
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., contact_limits: _Optional[_Iterable[_Union[ContactLimit, _Mapping]]] = ..., suppression_rules: _Optional[_Iterable[_Union[SuppressionRule, _Mapping]]] = ..., arbitration: _Optional[_Union[ArbitrationSettings, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetDecisionSettingsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateDecisionSettingsRequest(_message.Message):
    __slots__ = ("decision_settings", "update_mask")
    DECISION_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    decision_settings: DecisionSettings
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, decision_settings: _Optional[_Union[DecisionSettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DecisionConfigVersion(_message.Message):
    __slots__ = ("name", "description", "live", "source_version", "action_count", "action_group_count", "trigger_count", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTION_GROUP_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    live: bool
    source_version: str
    action_count: int
    action_group_count: int
    trigger_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., live: _Optional[bool] = ..., source_version: _Optional[str] = ..., action_count: _Optional[int] = ..., action_group_count: _Optional[int] = ..., trigger_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PublishDecisionConfigRequest(_message.Message):
    __slots__ = ("parent", "description")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    description: str
    def __init__(self, parent: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RollbackDecisionConfigRequest(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GetDecisionConfigVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDecisionConfigVersionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDecisionConfigVersionsResponse(_message.Message):
    __slots__ = ("decision_config_versions", "next_page_token")
    DECISION_CONFIG_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decision_config_versions: _containers.RepeatedCompositeFieldContainer[DecisionConfigVersion]
    next_page_token: str
    def __init__(self, decision_config_versions: _Optional[_Iterable[_Union[DecisionConfigVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DiffDecisionConfigRequest(_message.Message):
    __slots__ = ("parent", "base_version", "target_version")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_VERSION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    base_version: str
    target_version: str
    def __init__(self, parent: _Optional[str] = ..., base_version: _Optional[str] = ..., target_version: _Optional[str] = ...) -> None: ...

class ConfigChange(_message.Message):
    __slots__ = ("item", "change_type", "fields")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    item: str
    change_type: ConfigChangeType
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, item: _Optional[str] = ..., change_type: _Optional[_Union[ConfigChangeType, str]] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class DiffDecisionConfigResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ConfigChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[ConfigChange, _Mapping]]] = ...) -> None: ...

class ImportDecisionConfigRequest(_message.Message):
    __slots__ = ("parent", "content", "merge")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    content: str
    merge: bool
    def __init__(self, parent: _Optional[str] = ..., content: _Optional[str] = ..., merge: _Optional[bool] = ...) -> None: ...

class ImportDecisionConfigResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ConfigChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[ConfigChange, _Mapping]]] = ...) -> None: ...

class ExportDecisionConfigRequest(_message.Message):
    __slots__ = ("parent", "version")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    version: str
    def __init__(self, parent: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ExportDecisionConfigResponse(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: str
    def __init__(self, content: _Optional[str] = ...) -> None: ...

class SimulateDecisionsRequest(_message.Message):
    __slots__ = ("parent", "config_version", "customers", "segment", "sample_size", "context", "channel", "max_actions", "placement", "device")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    config_version: str
    customers: _containers.RepeatedScalarFieldContainer[str]
    segment: str
    sample_size: int
    context: _struct_pb2.Struct
    channel: _channel_pb2.Channel
    max_actions: int
    placement: str
    device: str
    def __init__(self, parent: _Optional[str] = ..., config_version: _Optional[str] = ..., customers: _Optional[_Iterable[str]] = ..., segment: _Optional[str] = ..., sample_size: _Optional[int] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., max_actions: _Optional[int] = ..., placement: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class SimulatedAction(_message.Message):
    __slots__ = ("action", "chosen_count", "first_count")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_COUNT_FIELD_NUMBER: _ClassVar[int]
    action: str
    chosen_count: int
    first_count: int
    def __init__(self, action: _Optional[str] = ..., chosen_count: _Optional[int] = ..., first_count: _Optional[int] = ...) -> None: ...

class ChannelReach(_message.Message):
    __slots__ = ("channel", "customer_count", "action_count")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    channel: _channel_pb2.Channel
    customer_count: int
    action_count: int
    def __init__(self, channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., customer_count: _Optional[int] = ..., action_count: _Optional[int] = ...) -> None: ...

class ExclusionCount(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class SimulateDecisionsResponse(_message.Message):
    __slots__ = ("config_version", "customer_count", "skipped_customers", "reached_count", "actions", "channels", "exclusions")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    REACHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIONS_FIELD_NUMBER: _ClassVar[int]
    config_version: str
    customer_count: int
    skipped_customers: _containers.RepeatedScalarFieldContainer[str]
    reached_count: int
    actions: _containers.RepeatedCompositeFieldContainer[SimulatedAction]
    channels: _containers.RepeatedCompositeFieldContainer[ChannelReach]
    exclusions: _containers.RepeatedCompositeFieldContainer[ExclusionCount]
    def __init__(self, config_version: _Optional[str] = ..., customer_count: _Optional[int] = ..., skipped_customers: _Optional[_Iterable[str]] = ..., reached_count: _Optional[int] = ..., actions: _Optional[_Iterable[_Union[SimulatedAction, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[ChannelReach, _Mapping]]] = ..., exclusions: _Optional[_Iterable[_Union[ExclusionCount, _Mapping]]] = ...) -> None: ...

class EvaluatePolicyRequest(_message.Message):
    __slots__ = ("parent", "model", "start_time", "end_time", "reward_outcome", "max_decisions")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REWARD_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MAX_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    model: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    reward_outcome: OutcomeType
    max_decisions: int
    def __init__(self, parent: _Optional[str] = ..., model: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reward_outcome: _Optional[_Union[OutcomeType, str]] = ..., max_decisions: _Optional[int] = ...) -> None: ...

class PolicyValueEstimate(_message.Message):
    __slots__ = ("value", "standard_error", "lower", "upper")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    value: float
    standard_error: float
    lower: float
    upper: float
    def __init__(self, value: _Optional[float] = ..., standard_error: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ...) -> None: ...

class EvaluatePolicyResponse(_message.Message):
    __slots__ = ("decision_count", "skipped_count", "logged", "inverse_propensity", "doubly_robust", "effective_sample_size", "agreement")
    DECISION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOGGED_FIELD_NUMBER: _ClassVar[int]
    INVERSE_PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    DOUBLY_ROBUST_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    decision_count: int
    skipped_count: int
    logged: PolicyValueEstimate
    inverse_propensity: PolicyValueEstimate
    doubly_robust: PolicyValueEstimate
    effective_sample_size: float
    agreement: float
    def __init__(self, decision_count: _Optional[int] = ..., skipped_count: _Optional[int] = ..., logged: _Optional[_Union[PolicyValueEstimate, _Mapping]] = ..., inverse_propensity: _Optional[_Union[PolicyValueEstimate, _Mapping]] = ..., doubly_robust: _Optional[_Union[PolicyValueEstimate, _Mapping]] = ..., effective_sample_size: _Optional[float] = ..., agreement: _Optional[float] = ...) -> None: ...
