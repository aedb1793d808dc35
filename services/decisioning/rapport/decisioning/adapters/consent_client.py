"""The gRPC consent client: checks of concurrent Decides asked together."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from rapport.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from rapport.decisioning.domain import names
from rapport.decisioning.domain.outbound import UNUSABLE_ANSWER, ConsentQuery, DependencyError
from rapport.groupcommit import GroupCommit

from .grpc_clients import channel_to_proto, dependency_error

MAX_CONSENT_BATCH = 1000  # BatchCheckConsent's documented limit


def _check_request(query: ConsentQuery) -> consent_service_pb2.CheckConsentRequest:
    # No check_time: consent in force now.
    return consent_service_pb2.CheckConsentRequest(
        customer=query.customer, purpose=query.purpose, channel=channel_to_proto(query.channel)
    )


# One caller's consent checks: its workspace and queries.
ConsentAsk = tuple[str, tuple[ConsentQuery, ...]]


class GrpcConsentClient:
    """Checks asked at the same time (concurrent Decides) go together: each caller's
    checks wait for a BatchCheckConsent sent after they were asked (consent in force at
    that moment or later), one per workspace; a batch refused for good is asked again
    one caller at a time, so a caller's bad check fails that caller alone."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = consent_service_pb2_grpc.ConsentServiceStub(channel)
        self._asks: GroupCommit[ConsentAsk, list[bool]] = GroupCommit(MAX_CONSENT_BATCH)

    async def check(self, query: ConsentQuery) -> bool:
        try:
            response = await self._stub.CheckConsent(_check_request(query))
        except grpc.aio.AioRpcError as err:
            raise dependency_error("consent", err) from err
        return response.allowed

    async def batch_check(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        if not queries or len(queries) > MAX_CONSENT_BATCH:
            return await self._check_alone(workspace, queries)
        return await self._asks.submit((workspace, tuple(queries)), self._check_together)

    async def _check_together(self, asks: Sequence[ConsentAsk]) -> list[list[bool] | BaseException]:
        by_workspace: dict[str, list[int]] = {}
        for index, (workspace, _) in enumerate(asks):
            by_workspace.setdefault(workspace, []).append(index)
        answers: list[list[bool] | BaseException] = [[] for _ in asks]
        for workspace, indexes in by_workspace.items():
            mine = [asks[i][1] for i in indexes]
            for i, answer in zip(indexes, await self._answer(workspace, mine), strict=True):
                answers[i] = answer
        return answers

    async def _answer(
        self, workspace: str, callers: list[tuple[ConsentQuery, ...]]
    ) -> list[list[bool] | BaseException]:
        """Each caller's answers from one set of calls (_check_alone splits at the limit)."""
        try:
            allowed = await self._check_alone(workspace, [q for c in callers for q in c])
        except DependencyError as err:
            if len(callers) == 1 or not err.definite:
                return [err] * len(callers)
            # Refused for good: asked again per caller, whose check it was fails alone.
            answers: list[list[bool] | BaseException] = []
            for queries in callers:
                try:
                    answers.append(await self._check_alone(workspace, queries))
                except DependencyError as alone:
                    answers.append(alone)
            return answers
        split: list[list[bool] | BaseException] = []
        offset = 0
        for queries in callers:
            split.append(allowed[offset : offset + len(queries)])
            offset += len(queries)
        return split

    async def _check_alone(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        answers: list[bool] = []
        for start in range(0, len(queries), MAX_CONSENT_BATCH):
            chunk = queries[start : start + MAX_CONSENT_BATCH]
            try:
                response = await self._stub.BatchCheckConsent(
                    consent_service_pb2.BatchCheckConsentRequest(
                        parent=names.workspace_name(workspace),
                        requests=[_check_request(q) for q in chunk],
                    )
                )
            except grpc.aio.AioRpcError as err:
                raise dependency_error("consent", err) from err
            if len(response.responses) != len(chunk):
                raise DependencyError(
                    "consent", UNUSABLE_ANSWER, "BAD_RESPONSE", "answers do not match the checks"
                )
            answers.extend(r.allowed for r in response.responses)
        return answers
