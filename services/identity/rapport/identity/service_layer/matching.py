"""FindMatches: the customers most likely to be the same person as a customer or a record.

Scoring runs in a worker thread (``asyncio.to_thread``) with the workspace's match
model (match_models.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapport.errors import FailedPrecondition, InvalidArgument, NotFound
from rapport.identity.domain import names
from rapport.identity.domain.attributes import validate_attributes
from rapport.identity.matching import MatchModel, PersonRecord
from rapport.resourcenames import require_workspace

from . import commands
from .dependencies import Dependencies
from .match_models import attribute_comparisons, person_record, person_records
from .unit_of_work import IdentityUnitOfWork

DEFAULT_MAX_RESULTS = 10
MAX_MAX_RESULTS = 100


@dataclass(frozen=True)
class Match:
    workspace: str
    customer_id: str
    probability: float
    match_weight: float
    comparisons: list[tuple[str, str, float]]

    @property
    def customer_name(self) -> str:
        return names.customer_name(self.workspace, self.customer_id)


def validate_record(attributes: Mapping[str, str], *, field: str) -> dict[str, str]:
    """The non-empty attributes of a bare record, or InvalidArgument naming the field."""
    present = validate_attributes(attributes, field=field)
    if not present:
        raise InvalidArgument(field, "needs at least one non-empty attribute")
    return present


async def find_matches(cmd: commands.FindMatches, deps: Dependencies) -> list[Match]:
    workspace = names.parse_workspace(cmd.parent, field="parent")
    require_workspace(workspace, deps.workspaces)
    max_results = cmd.max_results or DEFAULT_MAX_RESULTS
    if not 0 < max_results <= MAX_MAX_RESULTS:
        raise InvalidArgument("max_results", f"must be between 0 and {MAX_MAX_RESULTS}")
    if not 0.0 <= cmd.min_probability <= 1.0:
        raise InvalidArgument("min_probability", "must be between 0 and 1")
    subject: names.CustomerName | None = None
    if cmd.customer:
        subject = names.parse_customer(cmd.customer, field="customer")
        if subject.workspace != workspace:
            raise InvalidArgument("customer", "must be a customer of the parent workspace")
    elif cmd.record is not None:
        record = person_record("", validate_record(cmd.record, field="record"))
    else:
        raise InvalidArgument("customer", "either customer or record is required")
    min_probability = cmd.min_probability or (await deps.rules.thresholds(workspace)).review

    subject_id: str | None = None
    async with deps.uow_factory(readonly=True) as uow:
        if subject is not None:
            subject_id, attributes = await _subject(uow, subject)
            record = person_record(subject_id, attributes)
        rows = await uow.matching.records_with_attributes(workspace)
        stored = await uow.matching.model_train_time(workspace)
    records = await asyncio.to_thread(person_records, rows)
    model = await deps.match_models.current(workspace, records, stored)
    if model is None:
        return []
    return await asyncio.to_thread(
        _best_matches,
        workspace,
        model,
        record,
        records,
        subject_id,
        min_probability,
        max_results,
    )


async def _subject(
    uow: IdentityUnitOfWork, subject: names.CustomerName
) -> tuple[str, Mapping[str, Any]]:
    """The live customer named (a merged one stands for its survivor) and its attributes."""
    name = names.customer_name(subject.workspace, subject.customer)
    customer_id = subject.customer
    for _ in range(8):
        exists, merged_into, attributes = await uow.matching.customer_attributes(
            subject.workspace, customer_id
        )
        if not exists:
            raise NotFound(name)
        if merged_into is None:
            if not attributes:
                raise FailedPrecondition(
                    "NO_ATTRIBUTES",
                    f"{name} has no attributes to match on; send them with Resolve",
                )
            return customer_id, attributes
        customer_id = merged_into
    raise NotFound(name)


def _best_matches(
    workspace: str,
    model: MatchModel,
    record: PersonRecord,
    records: Sequence[PersonRecord],
    exclude: str | None,
    min_probability: float,
    max_results: int,
) -> list[Match]:
    """In the worker thread: the best scored candidates sharing a block with ``record``."""
    candidates = [
        records[int(index)]
        for index in model.candidates_for(record, records)
        if records[int(index)].record_id != exclude
    ]
    if not candidates:
        return []
    probabilities = model.score_pairs([record] * len(candidates), candidates)
    ranked = sorted(
        (
            (float(probability), candidate)
            for probability, candidate in zip(probabilities, candidates, strict=True)
            if probability >= min_probability
        ),
        key=lambda scored: (-scored[0], scored[1].record_id),
    )[:max_results]
    matches = []
    for probability, candidate in ranked:
        explanation = model.explain(record, candidate)
        matches.append(
            Match(
                workspace=workspace,
                customer_id=candidate.record_id,
                probability=probability,
                match_weight=float(explanation.match_weight),
                comparisons=attribute_comparisons(explanation),
            )
        )
    return matches
