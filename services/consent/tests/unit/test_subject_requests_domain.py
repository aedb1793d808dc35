"""Data subject requests: step order, retries, completion, validation (pure domain)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from rapport.consent.domain import names
from rapport.consent.domain.subject_requests import (
    RequestState,
    RequestType,
    RetryPolicy,
    Service,
    StepError,
    StepState,
    SubjectRequest,
    customer_in_workspace,
    plan,
    require_type,
    validate_request_id,
)
from rapport.errors import InvalidArgument

NOW = datetime(2030, 1, 1, tzinfo=UTC)
RETENTION = timedelta(days=30)
EVERY_SERVICE = [Service.CONSENT, Service.DELIVERY, Service.IDENTITY, Service.PROFILE]


def _request(kind: RequestType, services: list[Service] = EVERY_SERVICE) -> SubjectRequest:
    return SubjectRequest(
        id="r1",
        workspace="default",
        customer_id="c1",
        type=kind,
        block_identifiers=False,
        steps=plan(services),
        create_time=NOW,
    )


def _services(steps: object) -> list[Service]:
    return [s.service for s in steps]  # type: ignore[attr-defined]


def test_plan_lists_the_configured_services_in_their_order() -> None:
    assert _services(plan(EVERY_SERVICE)) == [
        Service.IDENTITY,
        Service.PROFILE,
        Service.DELIVERY,
        Service.CONSENT,
    ]
    assert all(s.state is StepState.PENDING and s.attempt_count == 0 for s in plan(EVERY_SERVICE))


def test_erasure_runs_identity_alone_first_then_the_others_together_then_consent() -> None:
    request = _request(RequestType.ERASURE)
    assert _services(request.due_steps(NOW)) == [Service.IDENTITY]

    identity = request.step(Service.IDENTITY)
    assert identity is not None
    failed = request.with_steps(
        [identity.failed(NOW, StepError(14, "down"), timedelta(seconds=3))], RETENTION
    )
    assert failed.due_steps(NOW) == []
    assert failed.next_attempt_time() == NOW + timedelta(seconds=3)
    assert _services(failed.due_steps(NOW + timedelta(seconds=3))) == [Service.IDENTITY]

    later = NOW + timedelta(seconds=4)
    done = failed.with_steps([identity.succeeded(later, "")], RETENTION)
    assert _services(done.due_steps(later)) == [Service.PROFILE, Service.DELIVERY]
    assert done.next_attempt_time() == NOW  # their turn came: due at once
    assert done.state is RequestState.RUNNING

    # Consent's step (it deletes what access requests collected) comes last.
    profile, delivery = done.step(Service.PROFILE), done.step(Service.DELIVERY)
    assert profile is not None and delivery is not None
    half = done.with_steps([profile.succeeded(later, "")], RETENTION)
    assert _services(half.due_steps(later)) == [Service.DELIVERY]
    rest = half.with_steps([delivery.succeeded(later, "")], RETENTION)
    assert _services(rest.due_steps(later)) == [Service.CONSENT]


def test_erasure_without_identity_runs_consent_last() -> None:
    request = _request(RequestType.ERASURE, [Service.PROFILE, Service.CONSENT])
    assert _services(request.due_steps(NOW)) == [Service.PROFILE]


def test_an_access_step_overtaken_by_an_erasure_is_collected_again() -> None:
    request = _request(RequestType.ACCESS, [Service.PROFILE])
    [profile] = request.steps
    later = NOW + timedelta(seconds=1)
    again = profile.collect_again(later)
    assert again.state is StepState.PENDING and again.data_json == ""
    assert again.attempt_count == 1 and again.next_attempt_time == later
    assert again.last_error is not None and again.last_error.code == 10


def test_access_runs_identity_first_then_the_others_together() -> None:
    request = _request(RequestType.ACCESS)
    assert _services(request.due_steps(NOW)) == [Service.IDENTITY]
    identity = request.step(Service.IDENTITY)
    assert identity is not None
    done = request.with_steps([identity.succeeded(NOW, "{}")], RETENTION)
    assert _services(done.due_steps(NOW)) == _services(request.steps)[1:]


def test_covering_keeps_what_was_found_and_puts_the_live_customer_first() -> None:
    request = _request(RequestType.ERASURE)
    assert request.customers == (request.customer_id,)
    first = request.covering(["live", request.customer_id, "merged"])
    assert first.customers == ("live", request.customer_id, "merged")
    # Merged again meanwhile into another survivor: it leads, nothing is forgotten.
    again = first.covering(["newer", "live"])
    assert again.customers == ("newer", "live", request.customer_id, "merged")


def test_a_request_completes_when_every_step_succeeded() -> None:
    request = _request(RequestType.ACCESS, [Service.PROFILE, Service.CONSENT])
    profile, consent = request.steps
    half = request.with_steps([profile.succeeded(NOW, "{}")], RETENTION)
    assert half.state is RequestState.RUNNING and half.complete_time is None
    end = NOW + timedelta(minutes=1)
    done = half.with_steps([consent.succeeded(end, "{}")], RETENTION)
    assert done.state is RequestState.SUCCEEDED
    assert done.complete_time == end
    assert done.expire_time == end + RETENTION
    assert done.next_attempt_time() is None

    erasure = _request(RequestType.ERASURE, [Service.CONSENT])
    erased = erasure.with_steps([erasure.steps[0].succeeded(end, "")], RETENTION)
    assert erased.complete_time == end and erased.expire_time is None


def test_a_failed_step_keeps_its_error_until_it_succeeds() -> None:
    step = plan([Service.PROFILE])[0]
    failed = step.failed(NOW, StepError(4, "slow"), timedelta(seconds=2))
    assert failed.state is StepState.PENDING
    assert (failed.attempt_count, failed.last_error, failed.next_attempt_time) == (
        1,
        StepError(4, "slow"),
        NOW + timedelta(seconds=2),
    )
    done = failed.succeeded(NOW, "{}")
    assert (done.attempt_count, done.last_error, done.next_attempt_time) == (2, None, None)
    assert done.complete_time == NOW


@pytest.mark.parametrize("attempt", [1, 2, 3, 8, 30, 10_000])
def test_backoff_stays_within_its_bounds(attempt: int) -> None:
    policy = RetryPolicy(timedelta(seconds=1), timedelta(minutes=10))
    ceiling = 600.0 if attempt > 20 else min(600.0, 2.0 ** (attempt - 1))
    drawn: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        drawn.append((low, high))
        return low

    assert policy.delay(attempt, lowest) == timedelta(seconds=1)
    assert drawn == [(1.0, ceiling)]
    assert policy.delay(attempt, lambda low, high: high) == timedelta(seconds=ceiling)
    # A draw outside the bounds (a broken random source) is clamped.
    assert policy.delay(attempt, lambda low, high: -5.0) == timedelta(seconds=1)
    assert policy.delay(attempt, lambda low, high: 1e12) == timedelta(seconds=ceiling)


def test_backoff_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(timedelta(seconds=5), timedelta(seconds=1))
    with pytest.raises(ValueError):
        RetryPolicy(timedelta(0), timedelta(seconds=1))


def test_request_ids_must_be_uuids() -> None:
    value = "0F8FAD5B-D9CB-469F-A165-70867728950E"
    assert validate_request_id(value) == value.lower()
    assert validate_request_id("") == ""
    for bad in ("x", "0f8fad5bd9cb469fa16570867728950e", f"{{{value}}}", value + "0"):
        with pytest.raises(InvalidArgument) as raised:
            validate_request_id(bad)
        assert raised.value.field == "request_id"


def test_type_is_required_and_the_customer_in_the_workspace() -> None:
    with pytest.raises(InvalidArgument) as raised:
        require_type(None, "data_subject_request.type")
    assert raised.value.field == "data_subject_request.type"
    assert require_type(RequestType.ACCESS, "t") is RequestType.ACCESS
    customer = names.parse_customer("workspaces/brand2/customers/c1", field="f")
    with pytest.raises(InvalidArgument) as raised:
        customer_in_workspace(customer, "default", "data_subject_request.customer")
    assert raised.value.field == "data_subject_request.customer"
    customer_in_workspace(customer, "brand2", "data_subject_request.customer")


def test_idempotency_compares_what_was_asked() -> None:
    access = _request(RequestType.ACCESS)
    assert access.same_content(access)
    assert not access.same_content(_request(RequestType.ERASURE))
    assert access.name == "workspaces/default/dataSubjectRequests/r1"
    assert names.parse_data_subject_request(access.name, field="name").data_subject_request == "r1"


def test_a_claim_begins_the_due_attempts_and_their_results_end_them() -> None:
    later = NOW + timedelta(seconds=1)
    identity = _request(RequestType.ERASURE).step(Service.IDENTITY)
    assert identity is not None
    # A stale start (a worker that died mid-attempt) is dropped by the next claim.
    stale = _request(RequestType.ERASURE).with_steps(
        [
            identity.succeeded(NOW, ""),
            *(replace(s, attempt_start_time=NOW) for s in plan([Service.PROFILE, Service.CONSENT])),
        ],
        RETENTION,
    )
    started = stale.starting_due_attempts(later)
    assert _services(started.attempts_under_way()) == [Service.PROFILE, Service.DELIVERY]
    assert {s.service: s.attempt_start_time for s in started.steps} == {
        Service.IDENTITY: None,
        Service.PROFILE: later,
        Service.DELIVERY: later,
        Service.CONSENT: None,  # its turn has not come
    }
    profile, delivery = started.step(Service.PROFILE), started.step(Service.DELIVERY)
    assert profile is not None and delivery is not None and profile.running
    ended = started.with_steps(
        [
            profile.succeeded(later, ""),
            delivery.failed(later, StepError(14, "down"), timedelta(seconds=3)),
        ],
        RETENTION,
    )
    assert ended.attempts_under_way() == []
    assert all(s.attempt_start_time is None for s in ended.steps)
    again = delivery.collect_again(later)
    assert again.attempt_start_time is None and not again.running


def test_an_attempt_shows_running_only_while_its_lease_holds() -> None:
    lease_end = NOW + timedelta(minutes=5)
    claimed = replace(
        _request(RequestType.ACCESS).starting_due_attempts(NOW), leased_until=lease_end
    )
    just_before = claimed.as_seen_at(lease_end - timedelta(microseconds=1))
    assert _services(just_before.attempts_under_way()) == [Service.IDENTITY]
    # The worker died or stalled: once its lease lapsed, the step waits for another.
    for lapsed in (
        claimed.as_seen_at(lease_end),
        replace(claimed, leased_until=None).as_seen_at(NOW),  # given back
    ):
        assert lapsed.attempts_under_way() == []
        assert all(s.attempt_start_time is None for s in lapsed.steps)
        assert _services(lapsed.due_steps(lease_end)) == [Service.IDENTITY]  # still due
