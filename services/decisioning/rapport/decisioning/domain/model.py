"""The catalogue (actions, action groups, triggers), decisions and outcomes."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import cached_property
from typing import NamedTuple

from . import names
from .signals import Signal as Signal
from .signals import TrackedEvent as TrackedEvent
from .signals import TriggerKind

MAX_IDEMPOTENCY_KEY_CHARS = 200  # delivery's limit


class Channel(enum.Enum):
    """A contact channel; the values are the catalogue file's spelling."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WEBHOOK = "webhook"
    IN_APP = "in_app"
    INBOUND = "inbound"
    __hash__ = object.__hash__  # singletons: in C, not Enum's name hash in Python (hot path)

    @property
    def needs_consent(self) -> bool:
        # Inbound answers a customer who asked (nothing sent); a module constant is cheaper.
        return self is not _INBOUND

    @property
    def needs_text_body(self) -> bool:
        return self in (Channel.EMAIL, Channel.SMS, Channel.PUSH)

    @property
    def can_be_sent(self) -> bool:
        return self is not _INBOUND


_INBOUND = Channel.INBOUND


class OutcomeType(enum.Enum):
    IMPRESSION = "impression"
    CLICK = "click"
    ACCEPT = "accept"
    REJECT = "reject"
    CONVERSION = "conversion"
    # Delivery status events of a sent message.
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    BOUNCED = "bounced"


@dataclass(frozen=True)
class MessageContent:
    subject: str = ""
    text_body: str = ""
    html_body: str = ""


@dataclass(frozen=True)
class Treatment:
    """An action's content on one channel. In a draft the channel may be None (unknown)."""

    channel: Channel | None
    content: MessageContent


@dataclass(frozen=True)
class ActionDraft:
    """An action as a client or the catalogue file wrote it, before validation. A channel
    is None when unspecified or unknown; `group_id`: the group's id (from its name) or ''."""

    display_name: str = ""
    description: str = ""
    channels: Sequence[Channel | None] = field(default_factory=list)
    purpose: str = ""
    value: float = 0.0
    lever: float = 0.0
    base_propensity: float = 0.0
    eligibility: str = ""
    content: MessageContent = MessageContent()
    start_time: datetime | None = None
    end_time: datetime | None = None
    group_id: str = ""
    treatments: Sequence[Treatment] = ()
    tags: Sequence[str] = ()
    applicability: str = ""
    suitability: str = ""


@dataclass(frozen=True)
class Action:
    """A validated action with its defaults applied."""

    workspace: str
    action_id: str
    display_name: str
    description: str
    channels: tuple[Channel, ...]
    purpose: str
    value: float
    lever: float
    base_propensity: float
    eligibility: str
    content: MessageContent
    start_time: datetime | None
    end_time: datetime | None
    create_time: datetime
    group_id: str = ""
    treatments: tuple[Treatment, ...] = ()
    tags: tuple[str, ...] = ()
    applicability: str = ""
    suitability: str = ""
    update_time: datetime | None = None

    @cached_property  # read hundreds of times per decision
    def name(self) -> str:
        return names.action_name(self.workspace, self.action_id)

    @property
    def group_name(self) -> str:
        return names.group_name(self.workspace, self.group_id) if self.group_id else ""

    def in_window(self, now: datetime) -> bool:
        if self.start_time is not None and now < self.start_time:
            return False
        return self.end_time is None or now < self.end_time

    def content_for(self, channel: Channel) -> MessageContent:
        """The treatment's content on `channel`, else the default content."""
        for treatment in self.treatments:
            if treatment.channel is channel:
                return treatment.content
        return self.content

    def draft(self) -> ActionDraft:
        """The action as a draft (what UpdateAction edits)."""
        return ActionDraft(
            display_name=self.display_name,
            description=self.description,
            channels=list(self.channels),
            purpose=self.purpose,
            value=self.value,
            lever=self.lever,
            base_propensity=self.base_propensity,
            eligibility=self.eligibility,
            content=self.content,
            start_time=self.start_time,
            end_time=self.end_time,
            group_id=self.group_id,
            treatments=self.treatments,
            tags=self.tags,
            applicability=self.applicability,
            suitability=self.suitability,
        )


@dataclass(frozen=True)
class ActionGroupDraft:
    display_name: str = ""
    description: str = ""
    issue: str = ""
    eligibility: str = ""
    applicability: str = ""
    suitability: str = ""
    lever: float = 0.0


@dataclass(frozen=True)
class ActionGroup:
    """A group of actions under a business issue, with rules and a lever for all of them."""

    workspace: str
    group_id: str
    display_name: str
    description: str
    issue: str
    eligibility: str
    applicability: str
    suitability: str
    lever: float
    create_time: datetime
    update_time: datetime | None = None

    @property
    def name(self) -> str:
        return names.group_name(self.workspace, self.group_id)

    def draft(self) -> ActionGroupDraft:
        return ActionGroupDraft(
            display_name=self.display_name,
            description=self.description,
            issue=self.issue,
            eligibility=self.eligibility,
            applicability=self.applicability,
            suitability=self.suitability,
            lever=self.lever,
        )


@dataclass(frozen=True)
class TriggerDraft:
    """A trigger before validation; `action_id` is already extracted from its name."""

    event_name: str = ""
    condition: str = ""
    action_id: str = ""
    channel: Channel | None = None
    kind: TriggerKind = TriggerKind.EVENT
    segment: str = ""
    life_stage: str = ""
    date_trait: str = ""
    offset_days: int = 0
    years_after: int = 0
    throttle: timedelta | None = None
    best_channel: bool = False


@dataclass(frozen=True)
class Trigger:
    workspace: str
    trigger_id: str
    event_name: str
    condition: str
    action_id: str
    channel: Channel
    create_time: datetime
    update_time: datetime | None = None
    kind: TriggerKind = TriggerKind.EVENT
    # SEGMENT_ENTERED / SEGMENT_EXITED: the profile segment's name.
    segment: str = ""
    # LIFE_STAGE_CHANGED: the stage changed to; '' means any.
    life_stage: str = ""
    # TIME_WINDOW: fires at 00:00 UTC on date_trait's date + years_after + offset_days.
    date_trait: str = ""
    offset_days: int = 0
    years_after: int = 0
    # At most one send per customer per this period; None for no limit.
    throttle: timedelta | None = None
    # Delivery chooses the channel among the action's (its default content is sent).
    best_channel: bool = False

    @property
    def name(self) -> str:
        return names.trigger_name(self.workspace, self.trigger_id)

    def draft(self) -> TriggerDraft:
        return TriggerDraft(**{f.name: getattr(self, f.name) for f in fields(TriggerDraft)})

    @property
    def action_name(self) -> str:
        return names.action_name(self.workspace, self.action_id)

    def idempotency_key(self, event_message_id: str) -> str:
        """Stable per (trigger, event), so a replayed signal never sends twice."""
        key = f"trigger:{self.trigger_id}:{event_message_id}"
        if len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
            return key
        # Delivery takes at most 200 characters: a digest keeps long ids stable.
        digest = hashlib.sha256(event_message_id.encode()).hexdigest()
        return f"trigger:{self.trigger_id}:sha256:{digest}"


class ScoreParts(NamedTuple):
    # Immutable; built per candidate of every decision, at a quarter of a dataclass's cost.
    propensity: float
    context_weight: float
    value: float
    lever: float

    @property
    def priority(self) -> float:
        return self.propensity * self.context_weight * self.value * self.lever


@dataclass(frozen=True)
class RankedAction:
    action: str
    rank: int
    priority: float
    score: ScoreParts
    probability: float
    channel: Channel
    explanation: str


class ExclusionReason(enum.StrEnum):
    """Why an action was left out, by the pipeline step that left it out."""

    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    OUT_OF_WINDOW = "OUT_OF_WINDOW"
    CHANNEL_MISMATCH = "CHANNEL_MISMATCH"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    NOT_SUITABLE = "NOT_SUITABLE"
    RULE_ERROR = "RULE_ERROR"
    SUPPRESSED = "SUPPRESSED"
    CONTACT_LIMIT = "CONTACT_LIMIT"
    NO_CONSENT = "NO_CONSENT"
    OUTRANKED = "OUTRANKED"
    CONTROL_GROUP = "CONTROL_GROUP"


@dataclass(frozen=True)
class ExcludedAction:
    action: str
    reason: ExclusionReason
    explanation: str
    # OUTRANKED only: the parts of its priority, and whether `explanation` is
    # arbitration.outranked_explanation's (storage may rebuild it).
    score: ScoreParts | None = None
    standard_text: bool = field(default=False, compare=False, repr=False)

    @property
    def priority(self) -> float:
        return self.score.priority if self.score is not None else 0.0


@dataclass(frozen=True)
class ShadowScore:  # a shadow model's propensity (by names), recorded, never acted on
    model: str
    action: str
    propensity: float


@dataclass(frozen=True)
class Decision:
    decision_id: str
    workspace: str
    customer: str
    actions: tuple[RankedAction, ...]
    excluded: tuple[ExcludedAction, ...]
    # The channel asked for; None means any.
    channel: Channel | None
    # Empty for a Decide call; the trigger's name for a triggered decision.
    source: str
    create_time: datetime
    # The configuration version decided with; 0 before the first publication.
    config_version: int = 0
    # The experiment (id) and arm the decision took part in; '' for none.
    experiment_id: str = ""
    arm_id: str = ""
    # The arm is the control group: the experiment's actions were held back.
    control: bool = False
    # The model whose propensities were acted on (its name); '' for none.
    model: str = ""
    # The named features the models saw (e.g. `traits.plan=gold`: 1.0).
    features: Mapping[str, float] = field(default_factory=dict)
    shadow_scores: tuple[ShadowScore, ...] = ()

    @property
    def name(self) -> str:
        return names.decision_name(self.workspace, self.decision_id)

    @property
    def experiment(self) -> str:
        """The experiment's name; empty when the decision took part in none."""
        if not self.experiment_id:
            return ""
        return names.experiment_name(self.workspace, self.experiment_id)

    @property
    def config_version_name(self) -> str:
        if not self.config_version:
            return ""
        return names.version_name(self.workspace, self.config_version)


@dataclass(frozen=True)
class Outcome:
    workspace: str
    outcome_id: str
    # Empty when no stored decision explains the outcome.
    decision_id: str
    customer: str
    action: str
    type: OutcomeType
    channel: Channel | None
    outcome_time: datetime
    create_time: datetime
    # What it is worth (a conversion's revenue); 0 when unknown.
    value: float = 0.0

    @property
    def name(self) -> str:
        return names.outcome_name(self.workspace, self.outcome_id)

    @property
    def decision(self) -> str:
        """The decision's name; empty when there is none."""
        return names.decision_name(self.workspace, self.decision_id) if self.decision_id else ""
