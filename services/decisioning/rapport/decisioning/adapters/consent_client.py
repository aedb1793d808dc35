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
        answers: list[list[bool] | BaseException] = [[] for _ in asks]
        by_workspace: dict[str, list[int]] = {}
        for index, (workspace, _) in enumerate(asks):
            by_workspace.setdefault(workspace, []).append(index)
        for workspace, indexes in by_workspace.items():
            # Callers taken together up to the call's limit; each gets its own answers.
            start = 0
            while start < len(indexes):
                group, size = [], 0
                while (
                    start < len(indexes)
                    and size + len(asks[indexes[start]][1]) <= MAX_CONSENT_BATCH
                ):
                    group.append(indexes[start])
                    size += len(asks[indexes[start]][1])
                    start += 1
                queries = [q for i in group for q in asks[i][1]]
                try:
                    allowed = await self._check_alone(workspace, queries)
                except DependencyError as err:
                    if len(group) == 1 or not err.definite:
                        for i in group:
                            answers[i] = err
                        continue
                    for i in group:  # refused for good: whose check was it?
                        try:
                            answers[i] = await self._check_alone(workspace, asks[i][1])
                        except DependencyError as alone:
                            answers[i] = alone
                    continue
                offset = 0
                for i in group:
                    answers[i] = allowed[offset : offset + len(asks[i][1])]
                    offset += len(asks[i][1])
        return answers

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
