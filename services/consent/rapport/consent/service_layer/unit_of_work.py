"""Unit of work over the consent database."""

from __future__ import annotations

from rapport.consent.adapters.aliases import AliasRepository
from rapport.consent.adapters.data_subject_requests import SubjectRequestRepository
from rapport.consent.adapters.repository import LedgerRepository
from rapport.sqlstore import SqlUnitOfWork


class ConsentUnitOfWork(SqlUnitOfWork):
    ledger: LedgerRepository
    aliases: AliasRepository
    subject_requests: SubjectRequestRepository

    def _open_repositories(self) -> None:
        self.ledger = LedgerRepository(self.connection)
        self.aliases = AliasRepository(self.connection)
        self.subject_requests = SubjectRequestRepository(self.connection)
