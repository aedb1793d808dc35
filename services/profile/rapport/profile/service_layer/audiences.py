"""Segments and life stages, applied to customers: in the ingest transaction for the
customers a batch changed, and for every customer by the background evaluator.

Each customer's state is (life stage, segment memberships). A change of either is a
signal (LIFE_STAGE_CHANGED, SEGMENT_ENTERED, SEGMENT_EXITED) appended to the same log,
in the same transaction, as the change itself.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.profile.domain.model import SignalKind
from rapport.profile.domain.rules import Evaluator, Facts, Reads, Rule
from rapport.profile.domain.segments import Segment, first_stage
from rapport.profile.domain.signals import life_stage_payload, segment_payload

from .computed_traits import values_between, values_of
from .customer_locks import read_with_customers_locked
from .rule_books import Change, Definitions, covers, definitions, reads_computed
from .unit_of_work import ProfileUnitOfWork

SignalRow = tuple[SignalKind, str, dict[str, Any]]


@dataclass
class Outcome:
    signals: list[SignalRow] = field(default_factory=list)
    # Customers whose stage or memberships changed (profile cache scopes).
    changed: set[str] = field(default_factory=set)


async def apply_changes(
    uow: ProfileUnitOfWork,
    workspace: str,
    now: datetime,
    changes: Mapping[str, Change],
    merged_away: Collection[str] = (),
    known_computed: Mapping[str, dict[str, Any]] | None = None,
    books: Definitions | None = None,
    known_keys: Mapping[str, frozenset[str] | None] | None = None,
) -> Outcome:
    """Re-evaluate the customers a batch changed (in its transaction): only the stages
    and segments whose rules read what changed; everything for a customer rules have
    not seen yet. ``known_computed``: computed trait values already known, of the keys
    ``known_keys`` gives for the customer (absent or None: every key the rules read);
    read again for a customer whose rules read more; ``books``: the workspace's
    definitions when read already."""
    outcome = Outcome()
    if merged_away:
        await uow.segments.forget_customers(workspace, merged_away)
    if not changes:
        return outcome
    if books is None:
        books = await definitions(uow, workspace)
    if books.empty:
        return outcome
    stages = await uow.segments.states_of(workspace, list(changes))
    for customer in changes:
        if customer not in stages:
            changes[customer].everything = True
    # In the order the batch touched them; only those with something a rule reads.
    customers = [
        c for c, change in changes.items() if change.everything or change.keys or change.computed
    ]
    if not customers:
        return outcome
    # A customer whose computed traits alone changed needs its traits only when a rule
    # it is evaluated against reads both.
    stages_read_computed = any("computed_traits" in r.variables for _, r in books.stages)
    traits_with_computed = stages_read_computed or any(
        {"traits", "computed_traits"} <= r.variables for _, r in books.segments
    )
    values = await uow.segments.trait_values_of(
        workspace,
        [c for c in customers if changes[c].everything or changes[c].keys or traits_with_computed],
    )
    computed: dict[str, dict[str, Any]] = dict(known_computed or {})
    if any("computed_traits" in rule.variables for rule in books.rules()):
        # Only for customers some rule reading computed traits is evaluated against,
        # and only the traits rules read.
        missing = [
            c
            for c in customers
            if (c not in computed or not covers(books, changes[c], (known_keys or {}).get(c)))
            and reads_computed(books, changes[c], stages_read_computed)
        ]
        if missing:
            computed.update(
                await values_of(uow, workspace, missing, now, needed_keys=books.computed_keys())
            )
    memberships = await uow.segments.memberships_of(workspace, customers)
    evaluator = Evaluator(now)
    stage_reads = Reads.of(rule for _, rule in books.stages)
    new_states: dict[str, str] = {}
    entered: list[tuple[str, str]] = []
    exited: list[tuple[str, str]] = []
    for customer in customers:
        change = changes[customer]
        facts = Facts(values.get(customer, {}), computed.get(customer, {}))
        old_stage = stages.get(customer, "")
        stage = old_stage
        if books.stages and (
            change.everything or change.keys or (change.computed and stages_read_computed)
        ):
            stage = first_stage(
                books.stages, evaluator.judge(stage_reads.narrowed(facts), stage_reads.variables)
            )
        if customer not in stages or stage != old_stage:
            new_states[customer] = stage
        if stage != old_stage:
            outcome.signals.append(
                (SignalKind.LIFE_STAGE_CHANGED, customer, life_stage_payload(old_stage, stage))
            )
            outcome.changed.add(customer)
        affected = books.index.affected(change.of_facts(stage != old_stage))
        if not affected:
            continue
        # The facts are converted for CEL once, with only what these rules read.
        reads = books.index.reads(affected)
        judge = evaluator.judge(
            reads.narrowed(Facts(facts.traits, facts.computed_traits, stage)), reads.variables
        )
        held = memberships.get(customer, set())
        for i in affected:
            segment, rule = books.segments[i]
            member = judge(rule)
            was = segment.segment_id in held
            if member and not was:
                entered.append((segment.segment_id, customer))
                outcome.signals.append(
                    (SignalKind.SEGMENT_ENTERED, customer, segment_payload(segment.segment_id))
                )
            elif was and not member:
                exited.append((segment.segment_id, customer))
                outcome.signals.append(
                    (SignalKind.SEGMENT_EXITED, customer, segment_payload(segment.segment_id))
                )
            else:
                continue
            outcome.changed.add(customer)
    await uow.segments.save_states(workspace, new_states, now)
    await uow.segments.add_members(workspace, entered, now)
    await uow.segments.remove_members(workspace, exited)
    return outcome


@dataclass(frozen=True)
class ChunkResult:
    last_customer: str | None
    evaluated: int
    signals: int
    changed: frozenset[str]


async def _held_customers_after(
    uow: ProfileUnitOfWork, workspace: str, after: str | None, size: int
) -> list[str]:
    """The next ``size`` customers after ``after``, locked, as they are once locked: one
    merged away meanwhile is no longer among them (it would be made a member with no
    facts), one created meanwhile is (its membership read below would count as gone)."""
    return await read_with_customers_locked(
        uow,
        workspace,
        functools.partial(uow.segments.customers_after, workspace, after, size),
        lambda customers: customers,
    )


async def evaluate_chunk(
    uow: ProfileUnitOfWork,
    segment: Segment,
    rule: Rule,
    now: datetime,
    *,
    after: str | None,
    size: int,
) -> ChunkResult:
    """Evaluate one segment for the next ``size`` customers after ``after`` (in id
    order), set-based: a few range reads, then bulk writes of the differences."""
    ws = segment.workspace
    customers = await _held_customers_after(uow, ws, after, size)
    if not customers:
        return ChunkResult(None, 0, 0, frozenset())
    last = customers[-1]
    values = (
        await uow.segments.trait_values_between(ws, after, last, rule.trait_keys)
        if "traits" in rule.variables
        else {}
    )
    stages = (
        await uow.segments.states_between(ws, after, last) if "life_stage" in rule.variables else {}
    )
    computed = (
        await values_between(uow, ws, after, last, now)
        if "computed_traits" in rule.variables
        else {}
    )
    held = await uow.segments.members_between(ws, segment.segment_id, after, last)
    evaluator = Evaluator(now)
    entered: list[tuple[str, str]] = []
    exited: list[tuple[str, str]] = []
    signals: list[SignalRow] = []
    empty: dict[str, Any] = {}
    for customer in customers:
        facts = Facts(
            values.get(customer, empty), computed.get(customer, empty), stages.get(customer, "")
        )
        member = evaluator.matches(rule, facts)
        was = customer in held
        if member and not was:
            entered.append((segment.segment_id, customer))
            signals.append(
                (SignalKind.SEGMENT_ENTERED, customer, segment_payload(segment.segment_id))
            )
        elif was and not member:
            exited.append((segment.segment_id, customer))
            signals.append(
                (SignalKind.SEGMENT_EXITED, customer, segment_payload(segment.segment_id))
            )
    # Members without a profile any more (erased) leave too.
    gone = held - set(customers)
    for customer in sorted(gone):
        exited.append((segment.segment_id, customer))
        signals.append((SignalKind.SEGMENT_EXITED, customer, segment_payload(segment.segment_id)))
    await uow.segments.add_members(ws, entered, now)
    await uow.segments.remove_members(ws, exited)
    if signals:
        await uow.profiles.lock_signal_log()
        await uow.profiles.append_signals(ws, signals, now)
    changed = frozenset(c for _, c in entered) | frozenset(c for _, c in exited)
    return ChunkResult(last, len(customers), len(signals), changed)


async def evaluate_stages_chunk(
    uow: ProfileUnitOfWork,
    workspace: str,
    stage_rules: Sequence[tuple[str, Rule]],
    now: datetime,
    *,
    after: str | None,
    size: int,
) -> ChunkResult:
    """Give the next ``size`` customers after ``after`` (in id order) their stage by
    the model, set-based; the customers whose stage changed get their segments
    re-evaluated (apply_changes), all signals logged in this transaction."""
    customers = await _held_customers_after(uow, workspace, after, size)
    if not customers:
        return ChunkResult(None, 0, 0, frozenset())
    last = customers[-1]
    reads = frozenset().union(*(rule.variables for _, rule in stage_rules))
    keys: set[str] | None = set()
    for _, rule in stage_rules:
        if "traits" in rule.variables:
            keys = None if keys is None or rule.trait_keys is None else keys | rule.trait_keys
    values = (
        await uow.segments.trait_values_between(workspace, after, last, keys)
        if "traits" in reads
        else {}
    )
    computed = (
        await values_between(uow, workspace, after, last, now) if "computed_traits" in reads else {}
    )
    stages = await uow.segments.states_between(workspace, after, last)
    evaluator = Evaluator(now)
    empty: dict[str, Any] = {}
    new_states: dict[str, str] = {}
    signals: list[SignalRow] = []
    for customer in customers:
        facts = Facts(values.get(customer, empty), computed.get(customer, empty))
        stage = first_stage(stage_rules, evaluator.judge(facts, reads))
        old = stages.get(customer)
        if old is None or stage != old:
            new_states[customer] = stage
        if stage != (old or ""):
            signals.append(
                (SignalKind.LIFE_STAGE_CHANGED, customer, life_stage_payload(old or "", stage))
            )
    await uow.segments.save_states(workspace, new_states, now)
    moved = [c for _, c, _ in signals]
    follow = await apply_changes(uow, workspace, now, {c: Change(everything=True) for c in moved})
    signals.extend(follow.signals)
    if signals:
        await uow.profiles.lock_signal_log()
        await uow.profiles.append_signals(workspace, signals, now)
    return ChunkResult(last, len(customers), len(signals), frozenset(moved) | follow.changed)


def preview_matches(
    rule: Rule,
    now: datetime,
    customers: Sequence[str],
    values: Mapping[str, Any],
    stages: Mapping[str, str],
    computed: Mapping[str, Any],
) -> list[str]:
    evaluator = Evaluator(now)
    empty: dict[str, Any] = {}
    return [
        c
        for c in customers
        if evaluator.matches(
            rule, Facts(values.get(c, empty), computed.get(c, empty), stages.get(c, ""))
        )
    ]
