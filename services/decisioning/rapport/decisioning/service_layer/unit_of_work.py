"""The decisioning unit of work: one transaction over the service's tables."""

from __future__ import annotations

from rapport.decisioning.adapters.catalogue_repository import ActionRepository, TriggerRepository
from rapport.decisioning.adapters.contact_repository import ContactRepository
from rapport.decisioning.adapters.cursor_repository import SignalCursorRepository
from rapport.decisioning.adapters.decision_repository import (
    DecisionRepository,
    OutcomeRepository,
)
from rapport.decisioning.adapters.draft_repository import ActionGroupRepository, DraftRepository
from rapport.decisioning.adapters.version_repository import ConfigVersionRepository
from rapport.sqlstore import SqlUnitOfWork


class DecisioningUnitOfWork(SqlUnitOfWork):
    actions: ActionRepository
    groups: ActionGroupRepository
    triggers: TriggerRepository
    draft: DraftRepository
    versions: ConfigVersionRepository
    decisions: DecisionRepository
    outcomes: OutcomeRepository
    contacts: ContactRepository
    signal_cursors: SignalCursorRepository

    def _open_repositories(self) -> None:
        self.actions = ActionRepository(self.connection)
        self.groups = ActionGroupRepository(self.connection)
        self.triggers = TriggerRepository(self.connection)
        self.draft = DraftRepository(self.connection)
        self.versions = ConfigVersionRepository(self.connection)
        self.decisions = DecisionRepository(self.connection)
        self.outcomes = OutcomeRepository(self.connection)
        self.contacts = ContactRepository(self.connection)
        self.signal_cursors = SignalCursorRepository(self.connection)
