"""Stateful property: random resolve / batch resolve / unmerge / erase / lookup steps.

Drives the real handlers and repositories on SQLite (with the in-process lookup
cache, as deployed on SQLite) over a small identifier alphabet, and checks the
graph's rules against the stored rows after every step.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from rapport.errors import NotFound
from rapport.identity.adapters.cache import InProcessIdentifierCache
from rapport.identity.adapters.tables import customers, identifiers
from rapport.identity.bootstrap import MIGRATIONS_DIR, build_dependencies
from rapport.identity.domain.model import Identifier
from rapport.identity.service_layer import commands, lifecycle, resolve
from rapport.identity.service_layer.customers import lookup_customer
from rapport.sqlstore import create_engine, migrate
from sqlalchemy import select

WORKSPACE = "default"
PARENT = f"workspaces/{WORKSPACE}"
# Default limits (Segment's): one user_id per customer, five of anything else.
LIMITS = {"user_id": 1}
OTHER_LIMIT = 5
ALPHABET = [
    ("user_id", "u1"),
    ("user_id", "u2"),
    ("user_id", "null"),  # blocked by the default rules
    ("email", "a@x.io"),
    ("email", "b@x.io"),
    ("device_id", "d1"),
    ("device_id", "d2"),
    ("device_id", "d3"),
    ("anonymous_id", "n1"),
]
BLOCKED_BY_RULES = {Identifier("user_id", "null")}

observation = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=3)
_databases = itertools.count()


def name(customer_id: str) -> str:
    return f"{PARENT}/customers/{customer_id}"


class IdentityLifecycle(RuleBasedStateMachine):
    tmp_dir: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        path = self.tmp_dir / f"identity-{next(_databases)}.db"
        self.engine = create_engine(f"sqlite+aiosqlite:///{path}")
        self.run(migrate(self.engine, MIGRATIONS_DIR))

        # Deterministic customer ids: Hypothesis replays steps and needs the same picks.
        numbers = itertools.count(1)
        self.ctx = build_dependencies(
            self.engine,
            workspaces={WORKSPACE},
            cache=InProcessIdentifierCache(max_entries=1000),
            id_factory=lambda: f"{next(numbers):032x}",
        )
        self.erased_blocked: set[Identifier] = set()
        self.just_erased: set[Identifier] = set()

    def run(self, coroutine):  # noqa: ANN001, ANN201
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()

    # --- what is stored --------------------------------------------------------

    async def _rows(self) -> tuple[dict[str, str | None], list]:
        async with self.engine.connect() as conn:
            customer_rows = {
                row.customer_id: row.merged_into
                for row in await conn.execute(
                    select(customers.c.customer_id, customers.c.merged_into).where(
                        customers.c.workspace == WORKSPACE
                    )
                )
            }
            identifier_rows = list(
                await conn.execute(
                    select(
                        identifiers.c.type,
                        identifiers.c.value,
                        identifiers.c.customer_id,
                        identifiers.c.origin_customer_id,
                    ).where(identifiers.c.workspace == WORKSPACE)
                )
            )
        return customer_rows, identifier_rows

    def stored(self) -> tuple[dict[str, str | None], list]:
        return self.run(self._rows())

    def live(self) -> list[str]:
        rows, _ = self.stored()
        return sorted(c for c, merged_into in rows.items() if merged_into is None)

    def merged_survivors(self) -> list[str]:
        rows, _ = self.stored()
        return sorted({m for m in rows.values() if m is not None})

    # --- steps -------------------------------------------------------------------

    @rule(raw=observation)
    def resolve(self, raw: list[tuple[str, str]]) -> None:
        self.just_erased = set()
        command = commands.Resolve(
            parent=PARENT, identifiers=tuple(commands.RawIdentifier(t, v) for t, v in raw)
        )
        result = self.run(resolve.resolve(command, self.ctx))
        self._check_result(raw, result)

    @rule(raws=st.lists(observation, min_size=1, max_size=3))
    def batch_resolve(self, raws: list[list[tuple[str, str]]]) -> None:
        self.just_erased = set()
        command = commands.BatchResolve(
            parent=PARENT,
            requests=tuple(
                commands.Resolve(
                    parent="", identifiers=tuple(commands.RawIdentifier(t, v) for t, v in raw)
                )
                for raw in raws
            ),
        )
        results = self.run(resolve.batch_resolve(command, self.ctx))
        assert len(results) == len(raws)

    def _check_result(self, raw: list[tuple[str, str]], result: resolve.ResolveResult) -> None:
        wanted = {Identifier(t, v) for t, v in raw}
        rejected = {r.identifier for r in result.rejected}
        assert wanted & (BLOCKED_BY_RULES | self.erased_blocked) <= rejected
        if result.customer is not None:
            linked = set(result.customer.identifiers)
            # Each identifier is either on the customer or rejected (with a reason).
            assert wanted <= linked | rejected
            assert not (linked & (BLOCKED_BY_RULES | self.erased_blocked))

    @precondition(lambda self: len(self.live()) >= 2)
    @rule(picks=st.lists(st.integers(0, 50), min_size=2, max_size=3))
    def merge(self, picks: list[int]) -> None:
        """The explicit merge of deduplication and accepted reviews, under the same rules."""
        self.just_erased = set()
        live = self.live()
        chosen = sorted({live[pick % len(live)] for pick in picks})
        outcome = self.run(
            resolve.merge_customers(
                commands.MergeCustomers(WORKSPACE, chosen, source="test", reason="test"), self.ctx
            )
        )
        assert set(outcome.merged) | {c for c, _ in outcome.refused} | {outcome.survivor} >= set(
            chosen
        )

    @precondition(lambda self: bool(self.merged_survivors()))
    @rule(pick=st.integers(0, 50), partial=st.booleans())
    def unmerge(self, pick: int, partial: bool) -> None:
        self.just_erased = set()
        survivors = self.merged_survivors()
        survivor = survivors[pick % len(survivors)]
        rows, _ = self.stored()
        cluster = sorted(c for c, m in rows.items() if m == survivor)
        chosen = cluster[pick % len(cluster) :][:1] if partial else []
        command = commands.UnmergeCustomer(name=name(survivor), customers=tuple(map(name, chosen)))
        result = self.run(lifecycle.unmerge_customer(command, self.ctx))
        restored = [c.id for c in result.restored_customers]
        assert sorted(restored) == (sorted(chosen) if partial else cluster)

        rows, identifier_rows = self.stored()
        for customer_id in restored:
            assert rows[customer_id] is None  # live again
            # Every identifier first linked to a restored customer is back on it.
            for row in identifier_rows:
                if row.origin_customer_id == customer_id:
                    assert row.customer_id == customer_id
        # Restored customers hold what the response says.
        for customer in result.restored_customers:
            on_it = {
                Identifier(r.type, r.value) for r in identifier_rows if r.customer_id == customer.id
            }
            assert on_it == set(customer.identifiers)

    @precondition(lambda self: bool(self.live()))
    @rule(pick=st.integers(0, 50), block=st.booleans())
    def erase(self, pick: int, block: bool) -> None:
        live = self.live()
        customer_id = live[pick % len(live)]
        _, identifier_rows = self.stored()
        erased = {
            Identifier(r.type, r.value) for r in identifier_rows if r.customer_id == customer_id
        }
        command = commands.EraseCustomer(name=name(customer_id), block_identifiers=block)
        result = self.run(lifecycle.erase_customer(command, self.ctx))
        assert result.erased_identifier_count == len(erased)
        if block:
            self.erased_blocked |= erased
        self.just_erased = erased

    @rule(raw=st.sampled_from(ALPHABET))
    def lookup(self, raw: tuple[str, str]) -> None:
        """The (cached) lookup always agrees with the stored graph."""
        _, identifier_rows = self.stored()
        owner = {Identifier(r.type, r.value): r.customer_id for r in identifier_rows}
        command = commands.LookupCustomer(PARENT, commands.RawIdentifier(*raw))
        try:
            found = self.run(lookup_customer(command, self.ctx)).id
        except NotFound:
            found = None
        assert found == owner.get(Identifier(*raw))

    # --- invariants after every step -----------------------------------------------

    @invariant()
    def every_identifier_belongs_to_one_live_customer(self) -> None:
        rows, identifier_rows = self.stored()
        keys = [(r.type, r.value) for r in identifier_rows]
        assert len(keys) == len(set(keys))
        for row in identifier_rows:
            assert row.customer_id in rows
            assert rows[row.customer_id] is None, "linked to a merged customer"
        for merged_into in rows.values():
            if merged_into is not None:
                assert rows.get(merged_into, "missing") is None, "merged into a non-live one"

    @invariant()
    def no_live_customer_exceeds_the_default_limits(self) -> None:
        _, identifier_rows = self.stored()
        counts = Counter((r.customer_id, r.type) for r in identifier_rows)
        for (_, type_), count in counts.items():
            assert count <= LIMITS.get(type_, OTHER_LIMIT)

    @invariant()
    def blocked_and_erased_blocked_values_are_never_linked(self) -> None:
        _, identifier_rows = self.stored()
        linked = {Identifier(r.type, r.value) for r in identifier_rows}
        assert not (linked & BLOCKED_BY_RULES)
        assert not (linked & self.erased_blocked)

    @invariant()
    def erased_identifiers_are_not_found(self) -> None:
        for identifier in self.just_erased:
            command = commands.LookupCustomer(
                PARENT, commands.RawIdentifier(identifier.type, identifier.value)
            )
            with pytest.raises(NotFound):
                self.run(lookup_customer(command, self.ctx))


def test_identity_lifecycle_state_machine(tmp_path: Path) -> None:
    IdentityLifecycle.tmp_dir = tmp_path
    IdentityLifecycle.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    IdentityLifecycle.TestCase().runTest()
