"""Unit of work: one transaction over the profile repository."""

from __future__ import annotations

from collections.abc import Callable

from rapport.profile.adapters.backfill_repository import BackfillRepository
from rapport.profile.adapters.computed_repository import ComputedTraitRepository
from rapport.profile.adapters.erased_customers import ErasedCustomers
from rapport.profile.adapters.evaluation_schedules import EvaluationSchedules
from rapport.profile.adapters.group_repository import GroupRepository
from rapport.profile.adapters.hygiene_repository import HygieneRepository
from rapport.profile.adapters.life_stage_repository import LifeStageModelRepository
from rapport.profile.adapters.profile_listing import ProfileListing
from rapport.profile.adapters.repository import ProfileRepository
from rapport.profile.adapters.segment_repository import SegmentRepository
from rapport.profile.adapters.signal_log import SignalLog
from rapport.profile.adapters.tracking_plan_repository import TrackingPlanRepository
from rapport.profile.adapters.trait_repository import TraitRepository
from rapport.sqlstore import SqlUnitOfWork
from sqlalchemy.ext.asyncio import AsyncEngine


class ProfileUnitOfWork(SqlUnitOfWork):
    profiles: ProfileRepository
    traits: TraitRepository
    groups: GroupRepository
    segments: SegmentRepository
    life_stage_models: LifeStageModelRepository
    schedules: EvaluationSchedules
    listing: ProfileListing
    computed: ComputedTraitRepository
    backfills: BackfillRepository
    tracking_plans: TrackingPlanRepository
    hygiene: HygieneRepository
    erasures: ErasedCustomers
    signal_log: SignalLog

    def _open_repositories(self) -> None:
        self.profiles = ProfileRepository(self.connection)
        self.traits = TraitRepository(self.connection)
        self.groups = GroupRepository(self.connection)
        self.segments = SegmentRepository(self.connection)
        self.life_stage_models = LifeStageModelRepository(self.connection)
        self.schedules = EvaluationSchedules(self.connection)
        self.listing = ProfileListing(self.connection)
        self.computed = ComputedTraitRepository(self.connection)
        self.backfills = BackfillRepository(self.connection)
        self.tracking_plans = TrackingPlanRepository(self.connection)
        self.hygiene = HygieneRepository(self.connection)
        self.erasures = ErasedCustomers(self.connection)
        self.signal_log = SignalLog(self.connection)


UnitOfWorkFactory = Callable[..., ProfileUnitOfWork]


def unit_of_work_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    """``factory()`` for writes, ``factory(readonly=True)`` for reads,
    ``factory(snapshot=True)`` for reads that must see one moment (exports)."""

    def factory(*, readonly: bool = False, snapshot: bool = False) -> ProfileUnitOfWork:
        return ProfileUnitOfWork(engine, readonly=readonly, snapshot=snapshot)

    return factory
