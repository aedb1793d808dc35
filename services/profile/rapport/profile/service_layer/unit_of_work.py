"""Unit of work: one transaction over the profile repository."""

from __future__ import annotations

from collections.abc import Callable

from rapport.profile.adapters.group_repository import GroupRepository
from rapport.profile.adapters.repository import ProfileRepository
from rapport.profile.adapters.trait_repository import TraitRepository
from rapport.sqlstore import SqlUnitOfWork
from sqlalchemy.ext.asyncio import AsyncEngine


class ProfileUnitOfWork(SqlUnitOfWork):
    profiles: ProfileRepository
    traits: TraitRepository
    groups: GroupRepository

    def _open_repositories(self) -> None:
        self.profiles = ProfileRepository(self.connection)
        self.traits = TraitRepository(self.connection)
        self.groups = GroupRepository(self.connection)


UnitOfWorkFactory = Callable[..., ProfileUnitOfWork]


def unit_of_work_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    """``factory()`` for writes, ``factory(readonly=True)`` for reads."""

    def factory(*, readonly: bool = False) -> ProfileUnitOfWork:
        return ProfileUnitOfWork(engine, readonly=readonly)

    return factory
