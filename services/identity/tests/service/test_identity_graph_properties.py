"""Property: the graph after any sequence of observations matches the "accepted together" graph.

Identifiers an observation links (all but the rejected ones, or none of them when
it is all or nothing and one is rejected) end in one live customer; no live
customer ever exceeds a limit of the rules; blocked values are never linked.

Runs the real handlers and repository on SQLite; every Hypothesis example uses a
fresh workspace of one migrated database, so examples never see each other.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.bootstrap import MIGRATIONS_DIR, build_dependencies
from rapport.identity.domain.model import Identifier
from rapport.identity.domain.rules import IdentityRules
from rapport.identity.service_layer import commands, customers, resolve
from rapport.sqlstore import create_engine, migrate


def restricted_to(rules: IdentityRules, types: list[str]) -> IdentityRules:
    """The rules of ``types`` only (keeping priority order)."""
    wanted = set(types)
    return replace(
        rules, identifier_types=tuple(r for r in rules.identifier_types if r.type in wanted)
    )


# The shipped defaults (user_id limit 1, blocked values) with a tighter
# anonymous_id limit, so that small examples hit limits often.
_DEFAULTS = restricted_to(
    load_default_rules(None, default_phone_region="US"),
    ["user_id", "email", "phone", "anonymous_id"],
)
RULES = replace(
    _DEFAULTS,
    identifier_types=tuple(
        replace(rule, limit=2) if rule.type == "anonymous_id" else rule
        for rule in _DEFAULTS.identifier_types
    ),
)

# A small alphabet with spellings that normalise to the same identifier.
RAW_IDENTIFIERS = [
    ("user_id", "u1"),
    ("user_id", " u1"),
    ("user_id", "u2"),
    ("user_id", "u3"),
    ("email", "a@x.io"),
    ("email", "A@X.io "),
    ("email", "b@x.io"),
    ("phone", "(650) 253-0000"),
    ("phone", "+1 650 253 0000"),
    ("phone", "+44 20 7946 0958"),
    ("anonymous_id", "an1"),
    ("anonymous_id", "an2"),
    ("anonymous_id", "an3"),
    # Blocked by the default rules.
    ("user_id", "null"),
    ("anonymous_id", "0000"),
]

# The identifiers, and whether the observation is all or nothing (an alias).
observation = st.tuples(
    st.lists(st.sampled_from(RAW_IDENTIFIERS), min_size=1, max_size=4), st.booleans()
)
# Several observations may share one batch (one unit of work), to cover both paths.
step = st.lists(observation, min_size=1, max_size=3)

_workspace_numbers = itertools.count()


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Identifier, Identifier] = {}

    def find(self, item: Identifier) -> Identifier:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: Identifier, b: Identifier) -> None:
        self.parent[self.find(a)] = self.find(b)

    def components(self) -> dict[Identifier, set[Identifier]]:
        groups: dict[Identifier, set[Identifier]] = {}
        for item in self.parent:
            groups.setdefault(self.find(item), set()).add(item)
        return groups


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    # One loop for all examples: the engine's connections belong to it.
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="module")
def engine(loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("identity-graph") / "identity.db"
    sql_engine = create_engine(f"sqlite+aiosqlite:///{path}")
    loop.run_until_complete(migrate(sql_engine, MIGRATIONS_DIR))
    yield sql_engine
    loop.run_until_complete(sql_engine.dispose())


async def _run_and_check(engine, steps: list[list[tuple[list[tuple[str, str]], bool]]]) -> None:
    workspace = f"w{next(_workspace_numbers)}"
    parent = f"workspaces/{workspace}"
    ctx = build_dependencies(engine, workspaces={workspace}, default_rules=RULES)
    seen_together = UnionFind()
    every_name: set[str] = set()

    for batch in steps:
        requests = tuple(
            commands.Resolve(
                parent=parent,
                identifiers=tuple(commands.RawIdentifier(t, v) for t, v in raw),
                source="property",
                link_all_or_nothing=all_or_nothing,
            )
            for raw, all_or_nothing in batch
        )
        if len(requests) == 1:
            results = [await resolve.resolve(requests[0], ctx)]
        else:
            results = await resolve.batch_resolve(commands.BatchResolve(parent, requests), ctx)
        for request, result in zip(requests, results, strict=True):
            normalised = RULES.normalise_all(
                ((r.type, r.value) for r in request.identifiers), field="identifiers"
            )
            rejected = {rejection.identifier for rejection in result.rejected}
            accepted = [i for i in normalised if i not in rejected]
            if request.link_all_or_nothing and rejected:
                assert result.customer is None  # refused whole: nothing linked
                continue
            assert all(not RULES.is_blocked(i) for i in accepted)
            if result.customer is None:
                assert not accepted  # nothing is created when everything is rejected
                continue
            for identifier in accepted:
                seen_together.union(accepted[0], identifier)
                # The response already holds every accepted identifier of the observation.
                assert identifier in result.customer.identifiers
            assert not rejected & set(result.customer.identifiers)
            every_name.add(result.customer.id)
            every_name.update(result.merged_customer_ids)

    live = []
    token = ""
    while True:
        page = await customers.list_customers(
            commands.ListCustomers(parent, page_size=2, page_token=token), ctx
        )
        live += page.customers
        token = page.next_page_token
        if not token:
            break

    owner: dict[Identifier, list[str]] = {}
    for customer in live:
        for identifier in customer.identifiers:
            owner.setdefault(identifier, []).append(customer.id)

    # No live customer exceeds a limit; blocked values are never linked.
    for customer in live:
        for rule in RULES.limited_types:
            assert sum(1 for i in customer.identifiers if i.type == rule.type) <= rule.limit
        assert not any(RULES.is_blocked(i) for i in customer.identifiers)
    # (a) every identifier belongs to exactly one live customer, and nothing else is linked.
    assert set(owner) == set(seen_together.parent)
    assert all(len(ids) == 1 for ids in owner.values())
    # (b) identifiers ever seen together belong to the same live customer.
    components = seen_together.components()
    for members in components.values():
        assert len({owner[m][0] for m in members}) == 1
    # (c) one live customer per connected component.
    assert len(live) == len(components)

    # Every customer ever returned (even merged away) leads to a live one.
    live_ids = {customer.id for customer in live}
    for customer_id in every_name:
        got = await customers.get_customer(
            commands.GetCustomer(f"{parent}/customers/{customer_id}"), ctx
        )
        assert got.id in live_ids


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_live_customers_are_the_components_of_the_accepted_together_graph(
    loop: asyncio.AbstractEventLoop,
    engine,
    steps,
) -> None:
    loop.run_until_complete(_run_and_check(engine, steps))
