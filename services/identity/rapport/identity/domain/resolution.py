"""What observations and explicit merges do to the graph, under the workspace's identity rules.

Pure and in memory: the service layer loads the part of the graph a unit of
work touches into an ``IdentityGraph``, plans and applies every observation in
order (later ones see earlier ones' effects), then writes the journal of
changes the graph kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .model import ChangeKind, Customer, Identifier, IdentityChange, Observation
from .rules import IdentityRules, erased_digest


class RejectReason(StrEnum):
    BLOCKED_VALUE = "BLOCKED_VALUE"
    ERASED_BLOCKED = "ERASED_BLOCKED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    KEPT_APART = "KEPT_APART"


_DESCRIPTIONS = {
    RejectReason.BLOCKED_VALUE: "the value matches a blocked pattern of its identifier type",
    RejectReason.ERASED_BLOCKED: "the identifier was erased and blocked from being linked again",
    RejectReason.LIMIT_EXCEEDED: "linking it would exceed a per-customer identifier limit",
    RejectReason.KEPT_APART: "its customer is kept apart from the others (unmerged or rejected)",
}


@dataclass(frozen=True)
class Rejection:
    identifier: Identifier
    reason: RejectReason

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.reason]


@dataclass
class CustomerState:
    """A customer as the unit of work sees it (live or merged)."""

    id: str
    create_time: datetime
    update_time: datetime
    merged_into: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    attributes_time: datetime | None = None
    # Linked identifiers and their link times (live customers only).
    identifiers: dict[Identifier, datetime] = field(default_factory=dict)
    # Customers merged into this one: (create_time, id).
    merged: list[tuple[datetime, str]] = field(default_factory=list)
    new: bool = False

    @property
    def age_key(self) -> tuple[datetime, str]:
        return (self.create_time, self.id)

    def members(self) -> set[str]:
        """This customer and every customer merged into it (for separations)."""
        return {self.id, *(customer_id for _, customer_id in self.merged)}

    def snapshot(self, workspace: str) -> Customer:
        ordered = sorted(self.identifiers.items(), key=lambda item: (item[1], item[0]))
        return Customer(
            workspace=workspace,
            id=self.id,
            create_time=self.create_time,
            update_time=self.update_time,
            identifiers=tuple(identifier for identifier, _ in ordered),
            merged_customer_ids=tuple(customer_id for _, customer_id in sorted(self.merged)),
            attributes=dict(self.attributes),
        )


@dataclass(frozen=True)
class ResolutionPlan:
    """What one observation does.

    ``survivor`` None with ``create`` False: every identifier was rejected and
    nothing changes.
    """

    survivor: str | None
    create: bool
    absorbed: tuple[str, ...]  # oldest first
    to_link: tuple[Identifier, ...]
    rejected: tuple[Rejection, ...]


@dataclass(frozen=True)
class MergeRecord:
    survivor_id: str
    merged_id: str
    identifiers: tuple[Identifier, ...]
    source: str
    observe_time: datetime
    merge_time: datetime


@dataclass(frozen=True)
class NewLink:
    identifier: Identifier
    origin_customer_id: str
    link_time: datetime


@dataclass(frozen=True)
class Outcome:
    """The result of one observation: ``customer`` None when nothing was linked."""

    customer: Customer | None
    created: bool
    merged_customer_ids: tuple[str, ...]
    rejected: tuple[Rejection, ...]


@dataclass
class Journal:
    """Everything the graph changed, for the repository to write in bulk."""

    new_customers: list[str] = field(default_factory=list)
    new_links: list[NewLink] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # customers merged away, in order
    merges: list[MergeRecord] = field(default_factory=list)
    changes: list[tuple[IdentityChange, datetime]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # pre-existing customers updated
    moved_identifiers: set[Identifier] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.new_customers or self.new_links or self.merged or self.touched)


class IdentityGraph:
    """The loaded part of one workspace's graph, changed in memory."""

    def __init__(
        self,
        rules: IdentityRules,
        customers: Iterable[CustomerState] = (),
        *,
        workspace: str,
        separations: Iterable[tuple[str, str]] = (),
        erased_digests: Iterable[str] = (),
    ) -> None:
        self.workspace = workspace
        self.rules = rules
        self._limits = {rule.type: rule.limit for rule in rules.limited_types}
        self.customers: dict[str, CustomerState] = {c.id: c for c in customers}
        self.links: dict[Identifier, str] = {
            identifier: customer.id
            for customer in self.customers.values()
            if customer.merged_into is None
            for identifier in customer.identifiers
        }
        self.separations: set[frozenset[str]] = {frozenset(pair) for pair in separations}
        self.erased_digests = set(erased_digests)
        self.journal = Journal()

    # --- rules --------------------------------------------------------------

    def separated(self, a: str, b: str) -> bool:
        if not self.separations:
            return False
        a_members, b_members = self.customers[a].members(), self.customers[b].members()
        return any(frozenset((x, y)) in self.separations for x in a_members for y in b_members)

    def _counts(self, customer_id: str, now: datetime) -> dict[str, int]:
        """Identifiers of each limited type the customer holds (within the type's window)."""
        counts: dict[str, int] = {}
        for rule in self.rules.limited_types:
            since = None if rule.limit_window is None else now - rule.limit_window
            counts[rule.type] = sum(
                1
                for identifier, link_time in self.customers[customer_id].identifiers.items()
                if identifier.type == rule.type and (since is None or link_time >= since)
            )
        return counts

    def fits(self, customer_ids: Sequence[str], new: Sequence[Identifier], now: datetime) -> bool:
        """True when these customers merged, plus the new identifiers, keep every limit.

        A customer already above a limit (rules changed since it was linked) may
        stay there, but nothing may grow a type beyond max(limit, that count).
        """
        if not self.rules.limited_types:
            return True
        per_customer = [self._counts(customer_id, now) for customer_id in customer_ids]
        for rule in self.rules.limited_types:
            own = [counts[rule.type] for counts in per_customer]
            total = sum(own) + sum(1 for identifier in new if identifier.type == rule.type)
            if total > max(rule.limit, *own, 0):
                return False
        return True

    # --- planning -----------------------------------------------------------

    def plan(self, observation: Observation, now: datetime) -> ResolutionPlan:
        rejected: list[Rejection] = []
        candidates: list[Identifier] = []
        check_erased = bool(self.erased_digests)
        for identifier in observation.identifiers:
            if self.rules.is_blocked(identifier):
                rejected.append(Rejection(identifier, RejectReason.BLOCKED_VALUE))
            elif check_erased and erased_digest(identifier) in self.erased_digests:
                rejected.append(Rejection(identifier, RejectReason.ERASED_BLOCKED))
            else:
                candidates.append(identifier)
        priority = self.rules.priority
        candidates.sort(key=lambda i: (priority(i.type), i.value))

        joined: list[str] = []
        new: list[Identifier] = []
        limits = self._limits
        # Running per-type counts of the merge set plus accepted new identifiers,
        # and the largest count one joined customer brought (see ``fits``).
        totals: dict[str, int] = dict.fromkeys(limits, 0)
        largest: dict[str, int] = dict.fromkeys(limits, 0)
        for identifier in candidates:
            owner = self.links.get(identifier)
            if owner is None:
                type_ = identifier.type
                if type_ in limits and totals[type_] + 1 > max(limits[type_], largest[type_]):
                    rejected.append(Rejection(identifier, RejectReason.LIMIT_EXCEEDED))
                else:
                    new.append(identifier)
                    if type_ in limits:
                        totals[type_] += 1
            elif owner in joined:
                continue
            elif any(self.separated(owner, member) for member in joined):
                rejected.append(Rejection(identifier, RejectReason.KEPT_APART))
            else:
                own = self._counts(owner, now)
                if all(
                    totals[t] + own[t] <= max(limit, largest[t], own[t])
                    for t, limit in limits.items()
                ):
                    joined.append(owner)
                    for t in limits:
                        totals[t] += own[t]
                        largest[t] = max(largest[t], own[t])
                else:
                    rejected.append(Rejection(identifier, RejectReason.LIMIT_EXCEEDED))

        if not joined:
            return ResolutionPlan(None, bool(new), (), tuple(new), tuple(rejected))
        by_age = sorted(joined, key=lambda customer_id: self.customers[customer_id].age_key)
        return ResolutionPlan(by_age[0], False, tuple(by_age[1:]), tuple(new), tuple(rejected))

    # --- applying -----------------------------------------------------------

    def resolve(
        self, observation: Observation, now: datetime, new_id: Callable[[], str]
    ) -> Outcome:
        """Plan and apply one observation."""
        plan = self.plan(observation, now)
        if (plan.survivor is None and not plan.create) or (
            plan.rejected and observation.link_all_or_nothing
        ):
            # Every identifier was rejected, or one was and the observation is all or
            # nothing: no customer is created or changed.
            return Outcome(None, False, (), plan.rejected)
        if plan.create:
            survivor = self._create(new_id(), now)
        else:
            assert plan.survivor is not None
            survivor = self.customers[plan.survivor]
        changed = plan.create
        for merged_id in plan.absorbed:
            self._absorb(survivor, merged_id, now)
            self.journal.merges.append(
                MergeRecord(
                    survivor.id,
                    merged_id,
                    observation.identifiers,
                    observation.source,
                    observation.observe_time,
                    now,
                )
            )
            changed = True
        for identifier in plan.to_link:
            survivor.identifiers[identifier] = now
            self.links[identifier] = survivor.id
            self.journal.new_links.append(NewLink(identifier, survivor.id, now))
            changed = True
        if changed and not plan.create:
            survivor.update_time = now
            self._touch(survivor)
        # A clock ahead (a client's, or a typo) must not freeze the attributes until that
        # time: an observation from the future counts as made now, as does a stored one.
        observed = min(observation.observe_time, now)
        if observation.attributes and (
            survivor.attributes_time is None or observed >= min(survivor.attributes_time, now)
        ):
            survivor.attributes = dict(observation.attributes)
            survivor.attributes_time = observed
            self._touch(survivor)
        return Outcome(survivor.snapshot(self.workspace), plan.create, plan.absorbed, plan.rejected)

    def plan_merge(
        self, customer_ids: Sequence[str], now: datetime
    ) -> tuple[str | None, list[str], list[tuple[str, RejectReason]]]:
        """Survivor, customers that can join it, and the refused ones (oldest first)."""
        distinct = sorted(set(customer_ids), key=lambda c: self.customers[c].age_key)
        if not distinct:
            return None, [], []
        joined = [distinct[0]]
        refused: list[tuple[str, RejectReason]] = []
        for customer_id in distinct[1:]:
            if any(self.separated(customer_id, member) for member in joined):
                refused.append((customer_id, RejectReason.KEPT_APART))
            elif self.fits([*joined, customer_id], [], now):
                joined.append(customer_id)
            else:
                refused.append((customer_id, RejectReason.LIMIT_EXCEEDED))
        return joined[0], joined[1:], refused

    def merge(
        self, survivor_id: str, merged_ids: Sequence[str], *, source: str, now: datetime
    ) -> Customer:
        """Merge already-planned customers (see plan_merge) into the survivor."""
        survivor = self.customers[survivor_id]
        for merged_id in merged_ids:
            self._absorb(survivor, merged_id, now)
            self.journal.merges.append(MergeRecord(survivor_id, merged_id, (), source, now, now))
        if merged_ids:
            survivor.update_time = now
            self._touch(survivor)
        return survivor.snapshot(self.workspace)

    def _create(self, customer_id: str, now: datetime) -> CustomerState:
        customer = CustomerState(id=customer_id, create_time=now, update_time=now, new=True)
        self.customers[customer_id] = customer
        self.journal.new_customers.append(customer_id)
        self.journal.changes.append((IdentityChange(ChangeKind.CREATED, customer_id), now))
        return customer

    def _absorb(self, survivor: CustomerState, merged_id: str, now: datetime) -> None:
        merged = self.customers[merged_id]
        for identifier, link_time in merged.identifiers.items():
            survivor.identifiers[identifier] = link_time
            self.links[identifier] = survivor.id
            self.journal.moved_identifiers.add(identifier)
        merged.identifiers = {}
        survivor.merged.extend(merged.merged)
        survivor.merged.append((merged.create_time, merged.id))
        for _, earlier_id in merged.merged:
            if earlier_id in self.customers:
                self.customers[earlier_id].merged_into = survivor.id
        merged.merged = []
        merged.merged_into = survivor.id
        merged.update_time = now
        # The survivor keeps the most recently observed attributes.
        if merged.attributes_time is not None and (
            survivor.attributes_time is None or merged.attributes_time > survivor.attributes_time
        ):
            survivor.attributes = merged.attributes
            survivor.attributes_time = merged.attributes_time
        self.journal.merged.append(merged_id)
        self._touch(merged)
        self.journal.changes.append(
            (IdentityChange(ChangeKind.MERGED, survivor.id, merged_id), now)
        )

    def _touch(self, customer: CustomerState) -> None:
        if not customer.new:
            self.journal.touched.add(customer.id)

    def live_id(self, customer_id: str) -> str:
        """The live customer a (possibly merged) customer now lives in."""
        seen: set[str] = set()
        while (target := self.customers[customer_id].merged_into) is not None:
            if customer_id in seen:  # a cycle would be a bug; never loop on it
                break
            seen.add(customer_id)
            customer_id = target
        return customer_id

    def owner_of(self, identifier: Identifier) -> str:
        return self.links[identifier]
