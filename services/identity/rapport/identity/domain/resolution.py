"""What an observation does to the graph: create, link, or merge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .model import CustomerRecord, Identifier


@dataclass(frozen=True)
class ResolutionPlan:
    """The changes one observation needs.

    ``survivor`` is None when no identifier is known yet: a new customer is
    created and every identifier linked to it.
    """

    survivor: CustomerRecord | None
    absorbed: tuple[CustomerRecord, ...]
    to_link: tuple[Identifier, ...]

    @property
    def creates_customer(self) -> bool:
        return self.survivor is None

    @property
    def changes_anything(self) -> bool:
        return self.survivor is None or bool(self.absorbed) or bool(self.to_link)


def choose_survivor(customers: Iterable[CustomerRecord]) -> CustomerRecord:
    """The oldest customer (earliest create time, then smallest id) survives a merge."""
    return min(customers, key=lambda customer: customer.age_key)


def plan_resolution(
    observed: Sequence[Identifier], links: Mapping[Identifier, CustomerRecord]
) -> ResolutionPlan:
    """Plan an observation given the customers its known identifiers are linked to.

    ``links`` must only hold live customers: identifiers always point at a live one.
    """
    to_link = tuple(identifier for identifier in observed if identifier not in links)
    customers = {customer.id: customer for customer in links.values()}
    if not customers:
        return ResolutionPlan(survivor=None, absorbed=(), to_link=to_link)
    survivor = choose_survivor(customers.values())
    absorbed = tuple(
        sorted(
            (c for c in customers.values() if c.id != survivor.id),
            key=lambda customer: customer.age_key,
        )
    )
    return ResolutionPlan(survivor=survivor, absorbed=absorbed, to_link=to_link)
