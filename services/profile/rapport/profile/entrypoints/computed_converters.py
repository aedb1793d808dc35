"""Protobuf <-> commands and results of computed traits and their backfill jobs."""

from __future__ import annotations

from rapport.profile.domain import names
from rapport.profile.domain.computed import BackfillJob, ComputedTrait, Kind
from rapport.profile.service_layer import commands
from rapport.profile.service_layer.computed_traits import TraitPage
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.wellknowntypes import python_to_value, to_timestamp, value_to_python

_KINDS = {
    pb.COMPUTED_TRAIT_KIND_COUNT: Kind.COUNT,
    pb.COMPUTED_TRAIT_KIND_SUM: Kind.SUM,
    pb.COMPUTED_TRAIT_KIND_AVERAGE: Kind.AVERAGE,
    pb.COMPUTED_TRAIT_KIND_MIN: Kind.MIN,
    pb.COMPUTED_TRAIT_KIND_MAX: Kind.MAX,
    pb.COMPUTED_TRAIT_KIND_MOST_FREQUENT: Kind.MOST_FREQUENT,
    pb.COMPUTED_TRAIT_KIND_FIRST: Kind.FIRST,
    pb.COMPUTED_TRAIT_KIND_LAST: Kind.LAST,
    pb.COMPUTED_TRAIT_KIND_UNIQUE_LIST: Kind.UNIQUE_LIST,
    pb.COMPUTED_TRAIT_KIND_UNIQUE_COUNT: Kind.UNIQUE_COUNT,
}
_KIND_VALUES = {kind: value for value, kind in _KINDS.items()}
_STATES = {
    "pending": pb.BACKFILL_JOB_STATE_PENDING,
    "running": pb.BACKFILL_JOB_STATE_RUNNING,
    "succeeded": pb.BACKFILL_JOB_STATE_SUCCEEDED,
    "cancelled": pb.BACKFILL_JOB_STATE_CANCELLED,
}


def create_command(request: pb.CreateComputedTraitRequest) -> commands.CreateComputedTrait:
    trait = request.computed_trait
    return commands.CreateComputedTrait(
        parent=request.parent,
        key=trait.key,
        kind=_KINDS.get(trait.kind),
        window_days=trait.window_days,
        event=trait.event,
        filter={
            path: value_to_python(
                value, field_path=f'computed_trait.filter["{path}"]', whole_numbers_as_ints=False
            )
            for path, value in trait.filter.items()
        },
        property=trait.property,
        trait_id=request.computed_trait_id,
    )


def update_command(request: pb.UpdateComputedTraitRequest) -> commands.UpdateComputedTrait:
    trait = request.computed_trait
    return commands.UpdateComputedTrait(
        name=trait.name,
        key=trait.key,
        kind=_KINDS.get(trait.kind),
        window_days=trait.window_days,
        event=trait.event,
        filter={
            path: value_to_python(
                value, field_path=f'computed_trait.filter["{path}"]', whole_numbers_as_ints=False
            )
            for path, value in trait.filter.items()
        },
        property=trait.property,
        update_mask=tuple(request.update_mask.paths),
    )


def trait_message(trait: ComputedTrait) -> pb.ComputedTrait:
    message = pb.ComputedTrait(
        name=names.computed_trait_name(trait.workspace, trait.trait_id),
        key=trait.key,
        kind=_KIND_VALUES[trait.kind],
        window_days=trait.window_days,
        event=trait.event,
        property=trait.property,
        create_time=to_timestamp(trait.create_time),
        backfill_job=names.backfill_job_name(trait.workspace, trait.trait_id, trait.job_id),
    )
    for path, value in trait.filter.items():
        message.filter[path].CopyFrom(python_to_value(value))
    return message


def list_response(page: TraitPage) -> pb.ListComputedTraitsResponse:
    return pb.ListComputedTraitsResponse(
        computed_traits=[trait_message(t) for t in page.traits],
        next_page_token=page.next_page_token,
    )


def job_message(job: BackfillJob) -> pb.BackfillJob:
    percent = 100 if job.state == "succeeded" else 0
    if job.state != "succeeded" and job.total:
        percent = min(99, job.processed * 100 // job.total)
    return pb.BackfillJob(
        name=names.backfill_job_name(job.workspace, job.trait_id, job.job_id),
        state=_STATES.get(job.state, pb.BACKFILL_JOB_STATE_UNSPECIFIED),
        processed_event_count=job.processed,
        total_event_count=max(job.total, job.processed),
        progress_percent=percent,
        create_time=to_timestamp(job.create_time),
        update_time=to_timestamp(job.update_time),
    )


def jobs_response(jobs: list[BackfillJob], token: str) -> pb.ListBackfillJobsResponse:
    return pb.ListBackfillJobsResponse(
        backfill_jobs=[job_message(j) for j in jobs], next_page_token=token
    )
