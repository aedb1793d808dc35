"""Planning one observation: create, link or merge (pure domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rapport.identity.domain.model import CustomerRecord, Identifier
from rapport.identity.domain.resolution import choose_survivor, plan_resolution

T0 = datetime(2024, 1, 1, tzinfo=UTC)
U1, U2, E1 = Identifier("user_id", "u1"), Identifier("user_id", "u2"), Identifier("email", "e@x")


def customer(id_: str, minutes: int) -> CustomerRecord:
    when = T0 + timedelta(minutes=minutes)
    return CustomerRecord(id=id_, create_time=when, update_time=when)


def test_no_known_identifier_creates_a_customer_linking_all() -> None:
    plan = plan_resolution([U1, E1], {})
    assert plan.creates_customer
    assert plan.to_link == (U1, E1)
    assert plan.absorbed == ()


def test_one_customer_gets_the_missing_identifiers() -> None:
    c1 = customer("c1", 0)
    plan = plan_resolution([U1, E1], {U1: c1})
    assert plan.survivor == c1
    assert plan.to_link == (E1,)
    assert plan.absorbed == ()
    assert plan.changes_anything


def test_nothing_new_changes_nothing() -> None:
    c1 = customer("c1", 0)
    plan = plan_resolution([U1], {U1: c1})
    assert not plan.changes_anything


def test_several_customers_merge_into_the_oldest() -> None:
    young, old, middle = customer("a", 10), customer("z", 0), customer("m", 5)
    plan = plan_resolution([U1, U2, E1], {U1: young, U2: old, E1: middle})
    assert plan.survivor == old
    assert [c.id for c in plan.absorbed] == ["m", "a"]
    assert plan.to_link == ()


def test_same_create_time_smallest_id_survives() -> None:
    assert choose_survivor([customer("b", 0), customer("a", 0), customer("c", 0)]).id == "a"


def test_one_customer_reached_by_several_identifiers_is_not_merged_with_itself() -> None:
    c1 = customer("c1", 0)
    plan = plan_resolution([U1, U2, E1], {U1: c1, U2: c1})
    assert plan.survivor == c1
    assert plan.absorbed == ()
    assert plan.to_link == (E1,)
