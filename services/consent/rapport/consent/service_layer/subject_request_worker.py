"""Carrying out data subject requests: a background task of every consent replica.

Each pass claims due requests with a lease (so two replicas never work on one request
at once, and a replica killed mid-step leaves it to another once the lease lapsed),
recording in the claim's transaction that an attempt of each due step began (a reader
sees it RUNNING while the lease holds), attempts those steps (the services' erase or
export methods, and consent's own ledger: consent_subject_rights.py), and records each
step's result under that lease. Identity's step first finds the customers the request
covers (identity's merges and consent's record of them) and records them before
anything is erased, so that a retry after identity erased the person still knows every
id to ask the other services about. A failed step stays pending
with its error and its next attempt time (exponential backoff, full jitter): it is
retried forever, never dropped. Each step ends within a bound shorter than the lease.
A stored request this version cannot read is logged and skipped; it never stops the
worker, nor does the database being away (the pass is tried again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import grpc
from rapport.consent.adapters.cache import CacheInvalidationError
from rapport.consent.adapters.data_subject_requests import Claimed
from rapport.consent.adapters.subject_rights import (
    IdentitySubjectRights,
    PeerCallFailed,
    SubjectRightsPeer,
)
from rapport.consent.domain.subject_requests import (
    CODE_DEADLINE_EXCEEDED,
    CODE_INTERNAL,
    CODE_UNAVAILABLE,
    RequestType,
    Service,
    Step,
    StepError,
    StepState,
    SubjectRequest,
)
from rapport.sqlstore import database_unreachable, run_with_retries

from .consent_subject_rights import covered_customers, erase_consent, export_consent
from .dependencies import Dependencies
from .unit_of_work import ConsentUnitOfWork

_log = logging.getLogger(__name__)

# Requests worked on at once by one replica (each its own task; its due steps together).
CLAIM_BATCH = 20
# A step must end within this share of the lease: the rest is the margin for recording
# its result before another replica could take the request over.
_STEP_SHARE_OF_LEASE = 0.8


# How long a stopping worker tries to release the leases of the requests it held.
_GIVE_BACK_SECONDS = 2.0


# google.rpc.Code numbers to their names: logs say DEADLINE_EXCEEDED, not 4.
_CODE_NAMES = {status.value[0]: status.name for status in grpc.StatusCode}


def _report(request: SubjectRequest, task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    # Its lease lapses and the request is claimed again: nothing is lost.
    _log.warning(
        "data subject request left for a later pass",
        extra={"resource": request.name, "error_reason": type(task.exception()).__name__},
    )


class SubjectRequestWorker:
    """A ServiceParts background task (``run``)."""

    def __init__(
        self,
        deps: Dependencies,
        *,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self._deps = deps
        self._poll = poll_seconds
        self._lease = lease
        self._step_timeout = lease.total_seconds() * _STEP_SHARE_OF_LEASE
        self._peers: dict[Service, SubjectRightsPeer] = {p.service: p for p in deps.subject_rights}

    async def run(self) -> None:
        """Claim due requests and work on each as a task of its own, so that a request
        waiting on a slow service never holds up the others nor new ones; at shutdown,
        the requests in hand are given back (their leases released) for any replica to
        take at once."""
        created = self._deps.subject_request_created
        working: dict[asyncio.Task[None], tuple[SubjectRequest, str]] = {}
        try:
            while True:
                created.clear()
                try:
                    claimed = await self._claim_and_start(working)
                except Exception as err:  # the database away...: the next pass tries again
                    claimed = 0
                    _log.warning(
                        "data subject request pass failed: trying again",
                        extra={"error_reason": type(err).__name__},
                    )
                if claimed:
                    continue  # more may be due
                new_request = asyncio.ensure_future(created.wait())
                try:
                    # A new request, a request done (its next steps may be due), or the poll.
                    await asyncio.wait(
                        {new_request, *working},
                        timeout=self._poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    new_request.cancel()
                for task in [t for t in working if t.done()]:
                    request, _token = working.pop(task)
                    _report(request, task)
        finally:
            await self._give_back(working)

    async def _claim_and_start(
        self, working: dict[asyncio.Task[None], tuple[SubjectRequest, str]]
    ) -> int:
        """Prune expired access results, claim due requests (as many as there is room
        for) and start working on each; how many were claimed."""
        deps = self._deps
        room = CLAIM_BATCH - len(working)
        if room <= 0:
            return 0
        now = deps.clock()
        token = uuid.uuid4().hex

        async def prune_and_claim(uow: ConsentUnitOfWork) -> tuple[int, list[Claimed]]:
            # One transaction for all: on SQLite every write takes the one write lock.
            pruned = await uow.subject_requests.prune_expired(now)
            claimed = await uow.subject_requests.claim_due(
                deps.workspaces,
                now,
                room,
                lease_token=token,
                leased_until=now + self._lease,
            )
            # The attempts begin now, under the lease just taken.
            claimed = [
                replace(item, request=item.request.starting_due_attempts(now))
                if item.request is not None
                else item
                for item in claimed
            ]
            await uow.subject_requests.save_attempt_starts(
                [item.request for item in claimed if item.request is not None]
            )
            return pruned, claimed

        pruned, claimed = await run_with_retries(deps.uow_factory, prune_and_claim)
        if pruned:
            _log.info("expired access results deleted", extra={"count": pruned})
        for item in claimed:
            if item.request is None:
                # Left leased: it is claimed again (and skipped again) once the lease
                # lapsed, or read by a newer replica.
                _log.warning(
                    "data subject request skipped: this version cannot read it",
                    extra={
                        "resource": item.id,
                        "error_reason": item.error.why if item.error else "",
                    },
                )
                continue
            task = asyncio.create_task(self._work(item.request, token))
            working[task] = (item.request, token)
        return len(claimed)

    async def _give_back(
        self, working: dict[asyncio.Task[None], tuple[SubjectRequest, str]]
    ) -> None:
        """Stop the requests in hand and release their leases (best effort, briefly:
        a lease not released lapses anyway)."""
        for task in working:
            task.cancel()
        await asyncio.gather(*working, return_exceptions=True)
        if not working:
            return

        async def release(uow: ConsentUnitOfWork) -> None:
            for request, token in working.values():
                await uow.subject_requests.release(request.id, token)

        try:
            async with asyncio.timeout(_GIVE_BACK_SECONDS):
                await run_with_retries(self._deps.uow_factory, release)
        except Exception as err:
            _log.warning(
                "data subject requests not given back at shutdown: their leases lapse",
                extra={"count": len(working), "error_reason": type(err).__name__},
            )

    async def _work(self, request: SubjectRequest, token: str) -> None:
        """Attempt the steps the claim began together, each result recorded as soon as
        it is known; then end the lease (steps that became due meanwhile, an erasure's
        after identity's, are claimed by the next pass at once)."""
        deps = self._deps
        if not request.covered_customer_ids and request.step(Service.IDENTITY) is None:
            # No identity in this deployment: consent's record of merges alone.
            covered = await covered_customers(request, [request.customer_id], deps)
            scoped = await self._save_scope(request, token, covered)
            if scoped is None:
                return
            request = scoped
        outcomes = await asyncio.gather(
            *(
                self._attempt_and_record(request, step, token)
                for step in request.attempts_under_way()
            ),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                # A result that could not be recorded (the database away): the step
                # runs again once the lease lapsed; the others were recorded.
                raise outcome
        released = await run_with_retries(
            deps.uow_factory, lambda uow: uow.subject_requests.release(request.id, token)
        )
        if not released:
            _log.warning(
                "data subject request taken over by another replica meanwhile",
                extra={"resource": request.name},
            )

    async def _save_scope(
        self, request: SubjectRequest, token: str, covered: Sequence[str]
    ) -> SubjectRequest | None:
        """The request with the customers it covers, recorded under the lease (None:
        the lease lapsed, another replica has it)."""

        async def save(uow: ConsentUnitOfWork) -> SubjectRequest | None:
            current = await uow.subject_requests.leased(request.id, token)
            if current is None:
                return None
            scoped = current.covering(covered)
            await uow.subject_requests.save(scoped)
            return scoped

        return await run_with_retries(self._deps.uow_factory, save)

    async def _attempt_and_record(self, request: SubjectRequest, step: Step, token: str) -> None:
        deps = self._deps
        result, covered = await self._attempt(request, step, token)

        async def record(uow: ConsentUnitOfWork) -> tuple[bool, bool]:
            """(recorded, the request completed with it)."""
            current = await uow.subject_requests.leased(request.id, token)
            if current is None:
                return False, False  # the lease lapsed and another replica took over
            if covered:
                current = current.covering(covered)
            outcome = result
            if (
                current.type is RequestType.ACCESS
                and result.state is StepState.SUCCEEDED
                and current.erasure_epoch != request.erasure_epoch
            ):
                # An erasure of the customer deleted this access's results since the
                # request was claimed (its transaction bumped the epoch under this row's
                # lock): what the attempt collected may predate it, and is never kept.
                outcome = step.collect_again(deps.clock())
            updated = current.with_steps([outcome], deps.access_retention)
            await uow.subject_requests.save_step(updated, outcome)
            return True, current.complete_time is None and updated.complete_time is not None

        recorded, completed = await run_with_retries(deps.uow_factory, record)
        if not recorded:
            _log.warning(
                "data subject request step result dropped: the lease lapsed",
                extra={"resource": request.name, "action": step.service.value},
            )
        elif completed:
            _log.info(
                "data subject request succeeded",
                extra={
                    "resource": request.name,
                    "customer": request.customer_id,
                    "action": request.type.value,
                },
            )

    async def _attempt(
        self, request: SubjectRequest, step: Step, token: str
    ) -> tuple[Step, Sequence[str]]:
        """The step after this attempt, and the customers identity's step found."""
        deps = self._deps
        covered: Sequence[str] = ()
        try:
            async with asyncio.timeout(self._step_timeout):
                if step.service is Service.IDENTITY:
                    work = await self._run_identity(request, token)
                else:
                    work = await self._run(request, step.service)
                covered = work.covered
        except PeerCallFailed as failure:
            error = failure.error
        except TimeoutError:
            error = StepError(
                CODE_DEADLINE_EXCEEDED, f"the step did not end within {self._step_timeout:g}s"
            )
        except LeaseLapsed:
            raise
        except CacheInvalidationError as exc:
            error = StepError(
                CODE_UNAVAILABLE, f"consent's cache could not be invalidated ({exc.cause_name})"
            )
        except Exception as exc:
            # Never a reason to stop: the step shows it and is tried again.
            code = CODE_UNAVAILABLE if database_unreachable(exc) else CODE_INTERNAL
            if code == CODE_INTERNAL:
                _log.exception(
                    "data subject request step failed unexpectedly",
                    extra={"resource": request.name, "action": step.service.value},
                )
            error = StepError(code, f"consent: {type(exc).__name__}")
        else:
            data = work.data
            text = json.dumps(data, separators=(",", ":")) if data is not None else ""
            return step.succeeded(deps.clock(), text, work.record_count), covered
        attempts = step.attempt_count + 1
        delay = deps.subject_request_retry.delay(attempts, deps.uniform)
        _log.warning(
            "data subject request step will be retried",
            extra={
                "resource": request.name,
                "action": step.service.value,
                "attempt": attempts,
                "error_reason": _CODE_NAMES.get(error.code, str(error.code)),
            },
        )
        return step.failed(deps.clock(), error, delay), covered

    async def _run_identity(self, request: SubjectRequest, token: str) -> StepWork:
        """Identity's step: who the request covers (recorded before an erasure), then
        the person's identity erased, or what identity holds on them."""
        peer = self._peers.get(Service.IDENTITY)
        if not isinstance(peer, IdentitySubjectRights):
            raise PeerCallFailed(
                StepError(CODE_UNAVAILABLE, "identity is not configured in consent")
            )
        subject = await peer.subject(request.workspace, request.customer_id)
        found = [request.customer_id]
        if subject is not None:
            found = [subject.live_id, request.customer_id, *subject.merged_ids]
        covered = await covered_customers(request, found, self._deps)
        if request.type is RequestType.ACCESS:
            if subject is None:
                return StepWork({"customer": {}}, 0, covered)
            return StepWork({"customer": subject.customer_json}, subject.identifier_count, covered)
        if subject is None:
            return StepWork(None, 0, covered)
        # Recorded first: once identity erased the person, it cannot name them again.
        scoped = await self._save_scope(request, token, covered)
        if scoped is None:
            raise LeaseLapsed(request.name)
        erased = await peer.erase(request.workspace, scoped.customers, request.block_identifiers)
        return StepWork(None, erased, covered)

    async def _run(self, request: SubjectRequest, service: Service) -> StepWork:
        """The step's work: the export for an access (None for an erasure), and how many
        records it exported or erased."""
        if service is Service.CONSENT:
            if request.type is RequestType.ACCESS:
                return StepWork(*await export_consent(request, self._deps))
            return StepWork(None, await erase_consent(request, self._deps))
        peer = self._peers.get(service)
        if peer is None:
            # A step planned when this deployment called the service; it no longer does.
            raise PeerCallFailed(
                StepError(CODE_UNAVAILABLE, f"{service.value} is not configured in consent")
            )
        if request.type is RequestType.ACCESS:
            return StepWork(*await peer.export(request.workspace, request.customers))
        erased = await peer.erase(request.workspace, request.customers, request.block_identifiers)
        return StepWork(None, erased)


@dataclass(frozen=True, slots=True)
class StepWork:
    """What an attempt did: the export (an access; None for an erasure), how many
    records it exported or erased, and (identity's step) the customers covered."""

    data: dict[str, Any] | None
    record_count: int
    covered: Sequence[str] = ()


class LeaseLapsed(Exception):
    """Another replica took the request over: this one stops working on it."""
