"""Data subject requests (access, erasure) carried out across the suite: one step per
service, their order, their retries. Pure: the service layer calls the services and
stores what these rules decide.

Identity's step runs first: it finds the customers the request covers (the survivor of
a merge, the customers merged into it), which decisioning and delivery, which do not
follow merges, are each asked about; for an erasure it also erases the person in
identity first, so that nothing new is linked to them while the others erase. The other
steps run together once it succeeded, but for an erasure's consent step, which runs
last: it deletes what access requests collected, and an access running meanwhile may
still collect from a service that has not erased yet (an access attempt that began
before it is collected again: see ``Step.collect_again`` and ``erasure_epoch``). A
failed step stays PENDING and is tried again after an exponential backoff with full
jitter, forever: a request is never left stuck, and its steps show why it waits. An
attempt records when it began (``Step.attempt_start_time``), so that a reader tells a step
being done now from one waiting; only while the worker's lease on the request holds
(``SubjectRequest.as_seen_at``): a worker that died mid-attempt never leaves a step looking
as if it ran.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from rapport.consent.domain import names
from rapport.consent.domain.model import ConsentEntry
from rapport.errors import InvalidArgument


class RequestType(StrEnum):
    ACCESS = "access"
    ERASURE = "erasure"


class RequestState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"


class StepState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"


class Service(StrEnum):
    """The services a step can be for, in the order their steps are listed."""

    IDENTITY = "identity"
    PROFILE = "profile"
    DECISIONING = "decisioning"
    DELIVERY = "delivery"
    CONSENT = "consent"


SERVICE_ORDER: tuple[Service, ...] = tuple(Service)

# google.rpc.Code numbers of the failures consent gives an attempt itself.
CODE_DEADLINE_EXCEEDED = 4
CODE_ABORTED = 10
CODE_INTERNAL = 13
CODE_UNAVAILABLE = 14

# AIP-155 request ids: a UUID in its usual 8-4-4-4-12 hexadecimal form.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class StepError:
    """Why an attempt failed: the google.rpc.Status code number and message the service
    answered (or that consent gave the attempt itself: a deadline, an unexpected error)."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Step:
    service: Service
    state: StepState = StepState.PENDING
    attempt_count: int = 0
    last_error: StepError | None = None
    # None while the step has not been tried: it runs as soon as its turn comes.
    next_attempt_time: datetime | None = None
    complete_time: datetime | None = None
    # ACCESS: what the service holds (one JSON object); "" otherwise, or once pruned.
    data_json: str = ""
    # Once succeeded: how many records the service exported or erased (the receipt).
    record_count: int = 0
    # When the attempt under way began (set when a worker claims the request, cleared by
    # the attempt's result); None when no attempt runs.
    attempt_start_time: datetime | None = None

    @property
    def running(self) -> bool:
        """An attempt is under way (as far as the stored state says: see
        ``SubjectRequest.as_seen_at`` for one whose worker stopped)."""
        return self.state is StepState.PENDING and self.attempt_start_time is not None

    def succeeded(self, now: datetime, data_json: str, record_count: int = 0) -> Step:
        return replace(
            self,
            state=StepState.SUCCEEDED,
            attempt_count=self.attempt_count + 1,
            last_error=None,
            next_attempt_time=None,
            complete_time=now,
            data_json=data_json,
            record_count=record_count,
            attempt_start_time=None,
        )

    def collect_again(self, now: datetime) -> Step:
        """An access step whose attempt an erasure of the customer overtook: what it
        collected may predate the erasure, so it is dropped and collected again now."""
        return replace(
            self,
            attempt_count=self.attempt_count + 1,
            last_error=StepError(
                CODE_ABORTED,
                "an erasure of the customer completed during this attempt: collected again",
            ),
            next_attempt_time=now,
            data_json="",
            attempt_start_time=None,
        )

    def failed(self, now: datetime, error: StepError, delay: timedelta) -> Step:
        return replace(
            self,
            attempt_count=self.attempt_count + 1,
            last_error=error,
            next_attempt_time=now + delay,
            attempt_start_time=None,
        )


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    """A data subject request. ``request_id``: the AIP-155 id it was created with ("")."""

    id: str
    workspace: str
    customer_id: str
    type: RequestType
    block_identifiers: bool
    steps: tuple[Step, ...]
    create_time: datetime
    request_id: str = ""
    complete_time: datetime | None = None
    expire_time: datetime | None = None
    # The customer ids the request covers, the live one (a merge's survivor) first;
    # empty until identity's step (or, without identity, the worker) found them.
    covered_customer_ids: tuple[str, ...] = ()
    # Access: how many erasures deleted what it collected; an attempt that began under
    # another value read data from before an erasure (Step.collect_again).
    erasure_epoch: int = 0
    # While a worker holds the request: when its lease ends (another may take it then).
    leased_until: datetime | None = None

    @property
    def name(self) -> str:
        return names.data_subject_request_name(self.workspace, self.id)

    @property
    def customer_name(self) -> str:
        return names.customer_name(self.workspace, self.customer_id)

    @property
    def state(self) -> RequestState:
        if all(step.state is StepState.SUCCEEDED for step in self.steps):
            return RequestState.SUCCEEDED
        return RequestState.RUNNING

    def step(self, service: Service) -> Step | None:
        return next((s for s in self.steps if s.service is service), None)

    def same_content(self, other: SubjectRequest) -> bool:
        """Whether two creations ask for the same thing (AIP-155 idempotency)."""
        return (self.workspace, self.customer_id, self.type, self.block_identifiers) == (
            other.workspace,
            other.customer_id,
            other.type,
            other.block_identifiers,
        )

    @property
    def customers(self) -> tuple[str, ...]:
        """The customer ids each step acts on, the live one first."""
        return self.covered_customer_ids or (self.customer_id,)

    def covering(self, customer_ids: Iterable[str]) -> SubjectRequest:
        """The request covering these customers too (the first given becomes the live
        one): a merge found on a later attempt adds to what an earlier one found."""
        ordered = dict.fromkeys([*customer_ids, *self.covered_customer_ids, self.customer_id])
        return replace(self, covered_customer_ids=tuple(ordered))

    def runnable_steps(self) -> list[Step]:
        """The pending steps whose turn has come (whether or not their next attempt is
        due yet): only identity's until it succeeded; for an erasure, consent's only
        once every other service erased (it deletes what access requests collected, so
        it must come after anything they could still collect)."""
        pending = [s for s in self.steps if s.state is StepState.PENDING]
        identity = self.step(Service.IDENTITY)
        if identity is not None and identity.state is StepState.PENDING:
            return [identity]
        if self.type is RequestType.ERASURE:
            others = [s for s in pending if s.service is not Service.CONSENT]
            return others or pending
        return pending

    def due_steps(self, now: datetime) -> list[Step]:
        """The steps to attempt now."""
        return [
            s
            for s in self.runnable_steps()
            if s.next_attempt_time is None or s.next_attempt_time <= now
        ]

    def starting_due_attempts(self, now: datetime) -> SubjectRequest:
        """The request with an attempt of each step due at ``now`` begun (its worker
        claimed it at ``now``), and none other running (an attempt of a worker that
        stopped ended with its lease)."""
        due = {s.service for s in self.due_steps(now)}
        return replace(
            self,
            steps=tuple(
                replace(s, attempt_start_time=now if s.service in due else None) for s in self.steps
            ),
        )

    def attempts_under_way(self) -> list[Step]:
        """The steps whose attempt began (``starting_due_attempts``) and has not ended."""
        return [s for s in self.steps if s.running]

    def as_seen_at(self, now: datetime) -> SubjectRequest:
        """The request as a reader sees it at ``now``: once the worker's lease lapsed
        (the worker stopped, or died mid-attempt), no attempt of it still runs; its steps
        wait for another worker."""
        if self.leased_until is not None and self.leased_until > now:
            return self
        if all(s.attempt_start_time is None for s in self.steps):
            return self
        return replace(self, steps=tuple(replace(s, attempt_start_time=None) for s in self.steps))

    def next_attempt_time(self) -> datetime | None:
        """When a step is next due; None once every step succeeded."""
        times = [
            s.next_attempt_time if s.next_attempt_time is not None else self.create_time
            for s in self.runnable_steps()
        ]
        return min(times, default=None)

    def with_steps(self, steps: Iterable[Step], retention: timedelta) -> SubjectRequest:
        """The request with these steps replaced; completed (and, for an access, given
        its expire time) once every step succeeded."""
        by_service = {s.service: s for s in steps}
        updated = replace(self, steps=tuple(by_service.get(s.service, s) for s in self.steps))
        if updated.state is RequestState.SUCCEEDED and updated.complete_time is None:
            done = max((s.complete_time for s in updated.steps if s.complete_time), default=None)
            complete_time = done or self.create_time
            expire_time = complete_time + retention if self.type is RequestType.ACCESS else None
            updated = replace(updated, complete_time=complete_time, expire_time=expire_time)
        return updated


def plan(services: Iterable[Service]) -> tuple[Step, ...]:
    """One pending step per service of this deployment, in SERVICE_ORDER."""
    configured = set(services)
    return tuple(Step(service) for service in SERVICE_ORDER if service in configured)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff of failed steps (exponential, full jitter between the bounds)."""

    min_backoff: timedelta = timedelta(seconds=1)
    max_backoff: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.min_backoff <= timedelta(0) or self.max_backoff < self.min_backoff:
            raise ValueError("backoff bounds must satisfy 0 < min_backoff <= max_backoff")

    def delay(self, attempt_count: int, uniform: Callable[[float, float], float]) -> timedelta:
        """The wait after the ``attempt_count``-th failed attempt: drawn by ``uniform``
        between the minimum and min(maximum, minimum x 2^(attempt_count - 1))."""
        low = self.min_backoff.total_seconds()
        high = self.max_backoff.total_seconds()
        # The exponent is capped: past it the ceiling is the maximum anyway.
        ceiling = min(high, low * 2 ** min(max(attempt_count - 1, 0), 62))
        drawn = uniform(low, ceiling)
        return timedelta(seconds=min(max(drawn, low), ceiling))


def validate_request_id(value: str, field: str = "request_id") -> str:
    """The request id in canonical (lower-case) form; "" when none was given."""
    if not value:
        return ""
    if not _UUID.fullmatch(value):
        raise InvalidArgument(
            field, "must be a UUID (8-4-4-4-12 hexadecimal digits, e.g. from uuid4)"
        )
    return value.lower()


def require_type(value: RequestType | None, field: str) -> RequestType:
    if value is None:
        raise InvalidArgument(field, "is required (ACCESS or ERASURE)")
    return value


def customer_in_workspace(customer: names.CustomerName, workspace: str, field: str) -> None:
    if customer.workspace != workspace:
        raise InvalidArgument(field, f"must be a customer of {names.workspace_name(workspace)}")


def consent_export(entries: Iterable[tuple[ConsentEntry, str | None]]) -> dict[str, Any]:
    """Consent's part of an access request: every ledger entry of the customers covered
    (the request's covered customers and those answering with them through identity's
    merges), each naming its customer; a notice names the entry it derives from. Written
    as the other services' exports are (the contract's JSON: enum names, UTC times ending
    in Z)."""

    def record(entry: ConsentEntry, derived_from: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "name": entry.name,
            "customer": entry.customer_name,
            "purpose": entry.purpose,
            "channel": f"CHANNEL_{entry.channel.value.upper()}" if entry.channel else None,
            "state": f"CONSENT_STATE_{entry.state.value.upper()}" if entry.state else None,
            "source": entry.source,
            "notice_version": entry.notice_version,
            "proof": entry.proof,
            "effective_time": _json_time(entry.effective_time),
            "record_time": _json_time(entry.record_time),
        }
        if derived_from is not None:
            item["notice_of"] = derived_from
        return item

    return {"consent_records": [record(entry, derived) for entry, derived in entries]}


def _json_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
