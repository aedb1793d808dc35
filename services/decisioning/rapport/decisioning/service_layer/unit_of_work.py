"""The decisioning unit of work: one transaction over the service's tables."""

from __future__ import annotations

from rapport.decisioning.adapters.backfill_repository import TriggerBackfillRepository
from rapport.decisioning.adapters.catalogue_load_repository import CatalogueLoadRepository
from rapport.decisioning.adapters.catalogue_repository import ActionRepository, TriggerRepository
from rapport.decisioning.adapters.contact_repository import ContactRepository
from rapport.decisioning.adapters.cursor_repository import SignalCursorRepository
from rapport.decisioning.adapters.decision_repository import (
    DecisionRepository,
    OutcomeRepository,
)
from rapport.decisioning.adapters.draft_repository import ActionGroupRepository, DraftRepository
from rapport.decisioning.adapters.erased_customers import ErasedCustomerRepository
from rapport.decisioning.adapters.experiment_repository import (
    ConversionRuleRepository,
    ExperimentRepository,
    SentMessageRepository,
)
from rapport.decisioning.adapters.model_repository import ModelRepository
from rapport.decisioning.adapters.schedule_repository import (
    TriggerFireRepository,
    TriggerScheduleRepository,
)
from rapport.decisioning.adapters.trigger_activity_repository import TriggerActivityRepository
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
    models: ModelRepository
    experiments: ExperimentRepository
    conversion_rules: ConversionRuleRepository
    sent_messages: SentMessageRepository
    trigger_schedules: TriggerScheduleRepository
    trigger_fires: TriggerFireRepository
    erased_customers: ErasedCustomerRepository
    catalogue_loads: CatalogueLoadRepository
    trigger_activities: TriggerActivityRepository
    trigger_backfills: TriggerBackfillRepository

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
        self.models = ModelRepository(self.connection)
        self.experiments = ExperimentRepository(self.connection)
        self.conversion_rules = ConversionRuleRepository(self.connection)
        self.sent_messages = SentMessageRepository(self.connection)
        self.trigger_schedules = TriggerScheduleRepository(self.connection)
        self.trigger_fires = TriggerFireRepository(self.connection)
        self.erased_customers = ErasedCustomerRepository(self.connection)
        self.catalogue_loads = CatalogueLoadRepository(self.connection)
        self.trigger_activities = TriggerActivityRepository(self.connection)
        self.trigger_backfills = TriggerBackfillRepository(self.connection)
