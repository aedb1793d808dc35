"""The decisioning unit of work: one transaction over the service's tables."""

from __future__ import annotations

from rapport.decisioning.adapters.catalogue_repository import ActionRepository, TriggerRepository
from rapport.decisioning.adapters.cursor_repository import SignalCursorRepository
from rapport.decisioning.adapters.decision_repository import (
    DecisionRepository,
    OutcomeRepository,
)
from rapport.sqlstore import SqlUnitOfWork


class DecisioningUnitOfWork(SqlUnitOfWork):
    actions: ActionRepository
    triggers: TriggerRepository
    decisions: DecisionRepository
    outcomes: OutcomeRepository
    signal_cursors: SignalCursorRepository

    def _open_repositories(self) -> None:
        self.actions = ActionRepository(self.connection)
        self.triggers = TriggerRepository(self.connection)
        self.decisions = DecisionRepository(self.connection)
        self.outcomes = OutcomeRepository(self.connection)
        self.signal_cursors = SignalCursorRepository(self.connection)
