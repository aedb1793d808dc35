"""Everything the handlers use, built once in bootstrap, and the ports to other services.

The ports are Protocols: the adapters (grpc_clients, redis_contacts, catalogue_file,
and the tests' in-memory fakes) implement them without importing the service layer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Protocol

from rapport.decisioning.domain.arbitration import BasePropensity, PropensityModel
from rapport.decisioning.domain.catalogue import Catalogue
from rapport.decisioning.domain.config import DecisionConfig
from rapport.decisioning.domain.contact_policy import Contact
from rapport.decisioning.domain.model import Channel, Signal
from rapport.decisioning.domain.outbound import (
    ConsentQuery,
    CustomerProfile,
    OutboundMessage,
    ProfilePage,
    SentMessage,
)
from rapport.decisioning.domain.policies import ContactLimit
from rapport.decisioning.domain.rules import RuleBook
from rapport.decisioning.domain.schedule import WindowTiming
from rapport.pagination import PageTokens

from .decision_writer import DecisionWriter
from .live_config import LiveConfigs
from .live_experiments import LiveExperiments
from .model_cache import ModelRegistry
from .unit_of_work import DecisioningUnitOfWork


class ProfileClient(Protocol):
    async def get_profile(self, customer: str) -> CustomerProfile | None:
        """What profile knows of the customer; None when there is no profile (unknown or
        erased). A definite DependencyError when the answer cannot be converted."""
        ...

    async def segment_members(self, segment: str, limit: int) -> list[str]:
        """The first `limit` customers of a segment; DependencyError (code NOT_FOUND for
        no such segment) when profile cannot answer."""
        ...

    async def list_profiles(
        self,
        workspace: str,
        has_trait: str,
        trait_keys: Sequence[str],
        page_token: str,
        page_size: int,
    ) -> ProfilePage:
        """A page of the workspace's profiles holding `has_trait` (customer order), each
        with only the traits of `trait_keys`; DependencyError when profile cannot answer."""
        ...

    async def segment_exists(self, segment: str) -> bool:
        """Whether profile has the segment (its resource name); DependencyError when
        profile cannot answer."""
        ...

    def watch_signals(self, workspace: str, start_cursor: str) -> AsyncIterator[Signal]:
        """Event-seen signals after `start_cursor`, then new ones as they come.

        A signal whose event cannot be converted comes with `unreadable` set rather
        than ending the stream.
        """
        ...


class ProfileCache(Protocol):
    async def get_profile(self, workspace: str, customer: str) -> CustomerProfile | None:
        """As ProfileClient.get_profile, from the kept copy when it may be used."""
        ...

    def forget(self, customer: str) -> None:
        """Ask profile next time (the customer was erased here)."""
        ...


class ConsentClient(Protocol):
    async def check(self, query: ConsentQuery) -> bool:
        """True when contact is allowed now."""
        ...

    async def batch_check(self, workspace: str, queries: Sequence[ConsentQuery]) -> list[bool]:
        """One answer per query, in order, in as few calls as the service allows."""
        ...


class DeliveryClient(Protocol):
    async def send(self, message: OutboundMessage) -> SentMessage:
        """Hand a message to delivery (idempotent by its key)."""
        ...


class ContactStore(Protocol):
    """Contacts kept outside the database (Redis), shared by the replicas.

    Without one, contacts are rows read under a per-customer database lock.
    Failures are transient DependencyErrors.
    """

    async def history(self, workspace: str, customer: str, since: datetime) -> list[Contact]:
        """The customer's contacts after `since`."""
        ...

    async def reserve(
        self,
        workspace: str,
        customer: str,
        contacts: Sequence[Contact],
        limits: Sequence[ContactLimit],
        now: datetime,
    ) -> bool:
        """Record the contacts unless that would exceed a limit, atomically; True if recorded."""
        ...

    async def keep_channel(
        self, workspace: str, customer: str, decision_id: str, action: str, channel: Channel
    ) -> bool:
        """Of one decision's contacts about `action`, keep only the one on `channel`."""
        ...

    async def forget(self, workspace: str, customer: str) -> int:
        """Delete the customer's contacts (erasure); how many there were."""
        ...


class ConfigDocuments(Protocol):
    """Configuration documents (YAML) as ImportDecisionConfig reads and Export writes them."""

    def parse(self, text: str) -> Catalogue:
        """InvalidArgument on field `content` when the text cannot be read."""
        ...

    def dump(self, config: DecisionConfig) -> str: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Dependencies:
    """What every handler (and the trigger runner) may use."""

    # uow() for a write transaction, uow(readonly=True) for reads.
    uow: Callable[..., DecisioningUnitOfWork]
    profile: ProfileClient
    consent: ConsentClient
    delivery: DeliveryClient
    # The workspaces this deployment serves.
    workspaces: Collection[str]
    # Compiled CEL programs, shared by validation and evaluation.
    rules: RuleBook
    # Encrypts List* page tokens (the page_token_key setting; the same on every replica).
    page_tokens: PageTokens
    documents: ConfigDocuments
    clock: Callable[[], datetime] = utc_now
    # None: contacts in the database.
    contact_store: ContactStore | None = None
    # The scoring step's model (the base propensity until models plug in).
    model: PropensityModel = field(default_factory=BasePropensity)
    # How long a replica may decide with a version after a newer one was published.
    config_refresh_seconds: float = 1.0
    # How long a replica may score with models after another replica changed them or
    # learnt from an outcome (the replica that did switches at once).
    model_refresh_seconds: float = 1.0
    # When in the day time-window triggers fire, and the customer's clock (zone trait,
    # default zone) of those firings and of decisions' rules.
    window_timing: WindowTiming = field(default_factory=WindowTiming)
    # Decide's profiles kept while profile's signals are followed (None: ask profile
    # every time). See profile_read_model.
    profile_cache: ProfileCache | None = None

    @cached_property
    def live(self) -> LiveConfigs:
        """The live configuration of each workspace, cached in this process."""
        return LiveConfigs(self.uow, self.config_refresh_seconds)

    @cached_property
    def decision_writer(self) -> DecisionWriter:
        """Stores Decide's records by group commit (see decision_writer)."""
        return DecisionWriter(self.uow)

    @cached_property
    def models(self) -> ModelRegistry:
        """The models of each workspace with their posteriors, cached in this process."""
        return ModelRegistry(self.uow, self.model_refresh_seconds)

    @cached_property
    def experiments(self) -> LiveExperiments:
        """Each workspace's experiments, cached in this process."""
        return LiveExperiments(self.uow, self.config_refresh_seconds)
