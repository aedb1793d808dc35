"""The resource names of the profile service: the one place that formats and parses them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rapport.resourcenames import format_name, parse_name

WORKSPACE = "workspaces/{workspace}"
CUSTOMER = "workspaces/{workspace}/customers/{customer}"
# ListEvents' parent for the events of every customer of a workspace.
ALL_CUSTOMERS = "workspaces/{workspace}/customers/-"
PROFILE = "workspaces/{workspace}/customers/{customer}/profile"
EVENT = "workspaces/{workspace}/customers/{customer}/events/{event}"
GROUP = "workspaces/{workspace}/groups/{group}"
SEGMENT = "workspaces/{workspace}/segments/{segment}"
LIFE_STAGE_MODEL = "workspaces/{workspace}/lifeStageModel"
TRACKING_PLAN = "workspaces/{workspace}/trackingPlans/{tracking_plan}"
COMPUTED_TRAIT = "workspaces/{workspace}/computedTraits/{computed_trait}"
BACKFILL_JOB = "workspaces/{workspace}/computedTraits/{computed_trait}/backfillJobs/{backfill_job}"

_ALL_CUSTOMERS_SUFFIX = "/customers/-"
# An event's name is its customer's followed by this (IngestEvents' answers name
# hundreds of events: one format of the customer's name for both).
_EVENT_UNDER_CUSTOMER = EVENT.removeprefix(CUSTOMER)


@dataclass(frozen=True)
class CustomerRef:
    workspace: str
    customer_id: str


@dataclass(frozen=True)
class EventRef:
    workspace: str
    customer_id: str
    event_id: str


@dataclass(frozen=True)
class EventsParent:
    workspace: str
    # None: every customer of the workspace (`customers/-`).
    customer_id: str | None


@dataclass(frozen=True)
class GroupRef:
    workspace: str
    group_key: str


def group_key(group_id: str) -> str:
    """The resource id of the group a sender calls ``group_id``: a digest, since
    senders' ids may hold any character (and case) a resource id may not."""
    return hashlib.blake2b(group_id.encode(), digest_size=16).hexdigest()


def group_name(workspace: str, key: str) -> str:
    return format_name(GROUP, workspace=workspace, group=key)


def parse_group(name: str, *, field: str) -> GroupRef:
    ids = parse_name(GROUP, name, field=field)
    return GroupRef(ids["workspace"], ids["group"])


def workspace_name(workspace: str) -> str:
    return format_name(WORKSPACE, workspace=workspace)


def customer_name(workspace: str, customer_id: str) -> str:
    return format_name(CUSTOMER, workspace=workspace, customer=customer_id)


def profile_name(workspace: str, customer_id: str) -> str:
    return format_name(PROFILE, workspace=workspace, customer=customer_id)


def event_name(workspace: str, customer_id: str, event_id: str) -> str:
    return format_name(EVENT, workspace=workspace, customer=customer_id, event=event_id)


def event_name_under(customer: str, event_id: str) -> str:
    """event_name, from the name of the event's customer (customer_name)."""
    return customer + _EVENT_UNDER_CUSTOMER.format(event=event_id)


def parse_workspace(name: str, *, field: str) -> str:
    return parse_name(WORKSPACE, name, field=field)["workspace"]


def parse_customer(name: str, *, field: str) -> CustomerRef:
    ids = parse_name(CUSTOMER, name, field=field)
    return CustomerRef(ids["workspace"], ids["customer"])


def parse_profile(name: str, *, field: str) -> CustomerRef:
    ids = parse_name(PROFILE, name, field=field)
    return CustomerRef(ids["workspace"], ids["customer"])


def parse_event(name: str, *, field: str) -> EventRef:
    ids = parse_name(EVENT, name, field=field)
    return EventRef(ids["workspace"], ids["customer"], ids["event"])


def parse_events_parent(name: str, *, field: str) -> EventsParent:
    """A customer, or `workspaces/{workspace}/customers/-` for all of them."""
    if name.endswith(_ALL_CUSTOMERS_SUFFIX):
        return EventsParent(parse_name(ALL_CUSTOMERS, name, field=field)["workspace"], None)
    customer = parse_customer(name, field=field)
    return EventsParent(customer.workspace, customer.customer_id)


HYGIENE_POLICY = "workspaces/{workspace}/dataHygienePolicy"


def hygiene_policy_name(workspace: str) -> str:
    return format_name(HYGIENE_POLICY, workspace=workspace)


def parse_hygiene_policy(name: str, *, field: str) -> str:
    """The workspace of a `workspaces/{workspace}/dataHygienePolicy` name."""
    return parse_name(HYGIENE_POLICY, name, field=field)["workspace"]


@dataclass(frozen=True)
class SegmentRef:
    workspace: str
    segment_id: str


def segment_name(workspace: str, segment_id: str) -> str:
    return format_name(SEGMENT, workspace=workspace, segment=segment_id)


def parse_segment(name: str, *, field: str) -> SegmentRef:
    ids = parse_name(SEGMENT, name, field=field)
    return SegmentRef(ids["workspace"], ids["segment"])


def life_stage_model_name(workspace: str) -> str:
    return format_name(LIFE_STAGE_MODEL, workspace=workspace)


def parse_life_stage_model(name: str, *, field: str) -> str:
    return parse_name(LIFE_STAGE_MODEL, name, field=field)["workspace"]


@dataclass(frozen=True)
class TrackingPlanRef:
    workspace: str
    plan_id: str


def tracking_plan_name(workspace: str, plan_id: str) -> str:
    return format_name(TRACKING_PLAN, workspace=workspace, tracking_plan=plan_id)


def parse_tracking_plan(name: str, *, field: str) -> TrackingPlanRef:
    ids = parse_name(TRACKING_PLAN, name, field=field)
    return TrackingPlanRef(ids["workspace"], ids["tracking_plan"])


@dataclass(frozen=True)
class ComputedTraitRef:
    workspace: str
    trait_id: str


@dataclass(frozen=True)
class BackfillJobRef:
    workspace: str
    trait_id: str
    job_id: str


def computed_trait_name(workspace: str, trait_id: str) -> str:
    return format_name(COMPUTED_TRAIT, workspace=workspace, computed_trait=trait_id)


def parse_computed_trait(name: str, *, field: str) -> ComputedTraitRef:
    ids = parse_name(COMPUTED_TRAIT, name, field=field)
    return ComputedTraitRef(ids["workspace"], ids["computed_trait"])


def backfill_job_name(workspace: str, trait_id: str, job_id: str) -> str:
    return format_name(
        BACKFILL_JOB, workspace=workspace, computed_trait=trait_id, backfill_job=job_id
    )


def parse_backfill_job(name: str, *, field: str) -> BackfillJobRef:
    ids = parse_name(BACKFILL_JOB, name, field=field)
    return BackfillJobRef(ids["workspace"], ids["computed_trait"], ids["backfill_job"])
