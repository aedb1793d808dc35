"""The decisioning unit of work: one transaction over the service's tables."""

from __future__ import annotations

from rapport.decisioning.adapters.repository import SqlRepository
from rapport.sqlstore import SqlUnitOfWork


class DecisioningUnitOfWork(SqlUnitOfWork):
    repository: SqlRepository

    def _open_repositories(self) -> None:
        self.repository = SqlRepository(self.connection)
