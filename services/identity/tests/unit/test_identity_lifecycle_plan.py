"""Unmerge planning, change grouping and the in-process identifier cache (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from rapport.identity.adapters.cache import InProcessIdentifierCache, _decode
from rapport.identity.adapters.lifecycle_repository import ChangeRow
from rapport.identity.domain.lifecycle import plan_unmerge
from rapport.identity.domain.model import ChangeKind, Identifier

from .._identity_support import stream_once

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_restoring_everything_gives_each_customer_its_own_origin() -> None:
    # D was merged into C, then C into S; X straight into S.
    plan = plan_unmerge("S", {"C": "S", "D": "C", "X": "S"}, ["C", "D", "X"])
    assert plan.restored == ("C", "D", "X")
    assert dict(plan.owners) == {"S": "S", "C": "C", "D": "D", "X": "X"}
    assert plan.owner_of_origin("D") == "D"
    assert plan.owner_of_origin("S") == "S"


def test_a_customer_merged_into_a_restored_one_goes_back_with_it() -> None:
    plan = plan_unmerge("S", {"C": "S", "D": "C", "X": "S"}, ["C"])
    assert plan.owners["C"] == "C"
    assert plan.owners["D"] == "C"  # merged into C before C was merged into S
    assert plan.owners["X"] == "S"
    assert plan.owner_of_origin("D") == "C"
    assert plan.owner_of_origin("X") == "S"


def test_restoring_a_nested_customer_alone_leaves_its_parent_merged() -> None:
    plan = plan_unmerge("S", {"C": "S", "D": "C"}, ["D"])
    assert plan.owners == {"S": "S", "C": "S", "D": "D"}


def test_identifiers_of_unknown_origin_stay_with_the_survivor() -> None:
    plan = plan_unmerge("S", {"C": "S"}, ["C"])
    assert plan.owner_of_origin(None) == "S"
    assert plan.owner_of_origin("elsewhere") == "S"
    # Missing history: the customer stays with the survivor rather than guessing.
    assert plan_unmerge("S", {"C": "S", "E": "gone"}, ["C"]).owners["E"] == "S"


def test_a_cycle_in_history_never_loops() -> None:
    plan = plan_unmerge("S", {"A": "B", "B": "A"}, [])
    assert plan.owners["A"] == "S" and plan.owners["B"] == "S"


def row(seq: int, kind: str, customer: str, other: str | None = None, t: datetime = T0):
    return ChangeRow(seq, kind, customer, other, t)


async def test_rows_of_one_commit_with_the_same_kind_and_customer_are_grouped() -> None:
    later = datetime(2026, 1, 2, tzinfo=UTC)
    streamed = await stream_once(
        [
            row(1, "created", "a"),
            row(2, "created", "b"),
            row(3, "merged", "a", "b"),
            row(4, "merged", "a", "c"),
            row(5, "merged", "a", "d", later),  # another commit
            row(6, "unmerged", "a", "b", later),
            row(7, "future-kind", "a", None, later),
            row(8, "erased", "a", None, later),
        ]
    )
    changes = [change for change, _ in streamed]
    assert [(c.cursor, c.kind, c.customer_id, c.other_customer_ids) for c in changes] == [
        (1, ChangeKind.CREATED, "a", ()),
        (2, ChangeKind.CREATED, "b", ()),
        (4, ChangeKind.MERGED, "a", ("b", "c")),
        (5, ChangeKind.MERGED, "a", ("d",)),
        (6, ChangeKind.UNMERGED, "a", ("b",)),
        (8, ChangeKind.ERASED, "a", ()),
    ]
    # The entry of a kind this version does not know is counted, not silently dropped.
    assert [skipped for _, skipped in streamed] == [0, 0, 0, 0, 0, 1]


async def test_in_process_cache_refuses_a_mapping_read_before_an_invalidation() -> None:
    cache = InProcessIdentifierCache(max_entries=2)
    email = Identifier("email", "a@example.com")
    [(hit, tag)] = await cache.get_many("w", [email])
    assert hit is None
    # A writer moves the identifier after our database read but before we store it.
    await cache.invalidate("w", [email])
    await cache.put_many("w", [(email, tag, "old")])
    assert (await cache.get_many("w", [email]))[0][0] is None
    [(_, tag)] = await cache.get_many("w", [email])
    await cache.put_many("w", [(email, tag, "new")])
    assert (await cache.get_many("w", [email]))[0][0] == "new"
    assert (await cache.get_many("other", [email]))[0][0] is None


async def test_in_process_cache_evicts_the_least_recently_used() -> None:
    cache = InProcessIdentifierCache(max_entries=2)
    a, b, c = (Identifier("user_id", v) for v in "abc")
    for identifier in (a, b):
        [(_, tag)] = await cache.get_many("w", [identifier])
        await cache.put_many("w", [(identifier, tag, identifier.value)])
    await cache.get_many("w", [a])  # a is now the most recently used
    [(_, tag)] = await cache.get_many("w", [c])
    await cache.put_many("w", [(c, tag, "c")])
    hits = [hit for hit, _ in await cache.get_many("w", [a, b, c])]
    assert hits == ["a", None, "c"]


def test_redis_values_are_trusted_only_with_the_current_version() -> None:
    assert _decode("v1:cust", "v1") == "cust"
    assert _decode("v1:cust", "v2") is None
    assert _decode("garbage", "v1") is None
    assert _decode(None, "v1") is None
