"""Each workspace's match model (cached per process, stored, or trained now), and its records.

The matching engine is pure and CPU-bound: parsing, training and building records
run in a worker thread (``asyncio.to_thread``) so the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rapport.identity.matching import ATTRIBUTES, MatchExplanation, MatchModel, PersonRecord

from .unit_of_work import IdentityUnitOfWork, with_retries

_log = logging.getLogger(__name__)


def person_record(record_id: str, attributes: Mapping[str, Any]) -> PersonRecord:
    return PersonRecord(record_id, **{name: str(attributes.get(name) or "") for name in ATTRIBUTES})


def person_records(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[PersonRecord]:
    """In the worker thread: a large workspace's records take a while to build."""
    return [person_record(customer_id, attributes) for customer_id, attributes in rows]


def attribute_comparisons(explanation: MatchExplanation) -> list[tuple[str, str, float]]:
    """How each attribute compared (the engine also lists the prior odds: not an attribute)."""
    return [
        (attribute, level, float(factor))
        for attribute, level, factor in explanation.comparisons
        if attribute in ATTRIBUTES
    ]


class MatchModels:
    """The match model of each workspace, shared by FindMatches and deduplication jobs."""

    def __init__(
        self, uow_factory: Callable[..., IdentityUnitOfWork], clock: Callable[[], datetime]
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        # workspace -> (train time, model): parsing a stored model is not free.
        self._models: dict[str, tuple[datetime, MatchModel]] = {}
        self._training: dict[str, asyncio.Lock] = {}

    async def current(
        self, workspace: str, records: Sequence[PersonRecord], stored: datetime | None
    ) -> MatchModel | None:
        """The workspace's model: cached, stored, or trained now (None: too few records).

        ``stored`` is the train time of the stored model, read with ``records``.
        """
        cached = self._models.get(workspace)
        if stored is not None and cached is not None and cached[0] == stored:
            return cached[1]
        lock = self._training.setdefault(workspace, asyncio.Lock())
        async with lock:
            async with self._uow_factory(readonly=True) as uow:
                loaded = await uow.matching.load_model(workspace)
            if loaded is not None:
                parameters, train_time = loaded
                cached = self._models.get(workspace)
                if cached is not None and cached[0] == train_time:
                    return cached[1]
                try:
                    model = await asyncio.to_thread(MatchModel.from_dict, parameters)
                except (ValueError, KeyError, TypeError):
                    # Stored by another engine version: retrain below instead of failing.
                    _log.warning("stored match model unreadable", extra={"workspace": workspace})
                else:
                    self._models[workspace] = (train_time, model)
                    return model
            if len(records) < 2:
                return None
            return await self.train(workspace, records)

    async def train(self, workspace: str, records: Sequence[PersonRecord]) -> MatchModel:
        """Train on ``records``, store the model and cache it.

        The model counts the records' attribute values: when one of their customers
        was erased after they were read, it is used by this caller only, neither
        stored nor cached (the erasure dropped the stored model; the next caller
        trains on the data left)."""
        model = await asyncio.to_thread(MatchModel.train, records)
        parameters = await asyncio.to_thread(model.to_dict)
        now = self._clock()
        record_ids = [record.record_id for record in records]

        async def save(uow: IdentityUnitOfWork) -> bool:
            # Under the lock an erasure takes to drop the model: checked, then stored.
            await uow.matching.lock_erasures(workspace)
            if not await uow.matching.all_exist(workspace, record_ids):
                return False
            await uow.matching.save_model(workspace, parameters, len(records), now)
            return True

        if not await with_retries(self._uow_factory, save):
            _log.info(
                "match model not stored: a customer it was trained on was erased meanwhile",
                extra={"workspace": workspace, "count": len(records)},
            )
            return model
        self._models[workspace] = (now, model)
        _log.info("match model trained", extra={"workspace": workspace, "count": len(records)})
        return model
