"""Resolution under identity rules: priority, limits, windows, separations, merges (pure)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rapport.identity.adapters.rules_repository import load_default_rules
from rapport.identity.domain.model import Identifier, Observation
from rapport.identity.domain.resolution import (
    CustomerState,
    IdentityGraph,
    Outcome,
    Rejection,
    RejectReason,
)
from rapport.identity.domain.rules import IdentityRules, erased_digest

RULES = load_default_rules(None, default_phone_region="US")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def u(v: str) -> Identifier:
    return Identifier("user_id", v)


def e(v: str) -> Identifier:
    return Identifier("email", v)


def a(v: str) -> Identifier:
    return Identifier("anonymous_id", v)


def customer(id_: str, minutes: int, *identifiers: Identifier, **kw: object) -> CustomerState:
    when = T0 + timedelta(minutes=minutes)
    return CustomerState(
        id=id_,
        create_time=when,
        update_time=when,
        identifiers=dict.fromkeys(identifiers, when),
        **kw,
    )


def observe(*identifiers: Identifier, attributes=None, at=T0) -> Observation:
    return Observation(tuple(identifiers), "test", at, attributes or {})


def graph(*customers: CustomerState, rules: IdentityRules = RULES, **kw) -> IdentityGraph:
    return IdentityGraph(rules, customers, workspace="default", **kw)


_ids = itertools.count()


def new_id() -> str:
    return f"new{next(_ids)}"


NOW = T0 + timedelta(days=1)


def test_no_known_identifier_creates_a_customer_linking_all() -> None:
    g = graph()
    outcome = g.resolve(observe(u("u1"), e("e@x.io")), NOW, new_id)
    assert outcome.created and outcome.customer is not None
    assert set(outcome.customer.identifiers) == {u("u1"), e("e@x.io")}
    assert g.journal.new_customers == [outcome.customer.id]


def test_nothing_new_changes_nothing() -> None:
    g = graph(customer("c1", 0, u("u1")))
    outcome = g.resolve(observe(u("u1")), NOW, new_id)
    assert outcome.customer is not None and outcome.customer.id == "c1"
    assert not g.journal.changed


def test_several_customers_merge_into_the_oldest() -> None:
    g = graph(
        customer("young", 10, a("a1")), customer("old", 0, a("a2")), customer("mid", 5, a("a3"))
    )
    outcome = g.resolve(observe(a("a1"), a("a2"), a("a3")), NOW, new_id)
    assert outcome.customer is not None and outcome.customer.id == "old"
    assert outcome.merged_customer_ids == ("mid", "young")
    assert [m.merged_id for m in g.journal.merges] == ["mid", "young"]
    assert g.customers["young"].merged_into == "old"


def test_user_id_limit_keeps_two_users_apart_and_drops_the_lower_priority_link() -> None:
    # Email e is linked to u1's customer; an observation of u2 with e would give
    # one customer two user ids: the email (lower priority) is left out.
    g = graph(customer("c1", 0, u("u1"), e("e@x.io")))
    outcome = g.resolve(observe(e("e@x.io"), u("u2")), NOW, new_id)
    assert outcome.created and outcome.customer is not None
    assert outcome.customer.identifiers == (u("u2"),)
    assert [(r.identifier, r.reason) for r in outcome.rejected] == [
        (e("e@x.io"), RejectReason.LIMIT_EXCEEDED)
    ]
    assert g.owner_of(e("e@x.io")) == "c1"


def test_two_linked_user_ids_do_not_merge() -> None:
    g = graph(customer("c1", 0, u("u1")), customer("c2", 1, u("u2")))
    outcome = g.resolve(observe(u("u2"), u("u1")), NOW, new_id)
    assert outcome.customer is not None and outcome.customer.id == "c1"  # u1 < u2 by value
    assert outcome.merged_customer_ids == ()
    assert [r.reason for r in outcome.rejected] == [RejectReason.LIMIT_EXCEEDED]


def test_new_identifier_over_the_limit_is_rejected() -> None:
    five = [a(f"a{i}") for i in range(5)]
    g = graph(customer("c1", 0, *five))
    outcome = g.resolve(observe(a("a0"), a("a9")), NOW, new_id)
    assert outcome.customer is not None and len(outcome.customer.identifiers) == 5
    assert [(r.identifier, r.reason) for r in outcome.rejected] == [
        (a("a9"), RejectReason.LIMIT_EXCEEDED)
    ]


def test_limit_window_counts_only_recent_links() -> None:
    windowed = replace(
        RULES,
        identifier_types=tuple(
            replace(r, limit=2, limit_window=timedelta(hours=1)) if r.type == "anonymous_id" else r
            for r in RULES.identifier_types
        ),
    )
    old_links = customer("c1", 0, a("a0"), a("a1"))  # linked a day before NOW
    g = graph(old_links, rules=windowed)
    first = g.resolve(observe(a("a0"), a("a2")), NOW, new_id)
    second = g.resolve(observe(a("a0"), a("a3")), NOW, new_id)
    third = g.resolve(observe(a("a0"), a("a4")), NOW, new_id)
    assert not first.rejected and not second.rejected  # old links are outside the window
    assert [r.reason for r in third.rejected] == [RejectReason.LIMIT_EXCEEDED]


def test_separated_customers_are_kept_apart() -> None:
    g = graph(
        customer("c1", 0, a("a1")),
        customer("c2", 1, a("a2")),
        separations=[("c1", "c2")],
    )
    outcome = g.resolve(observe(a("a1"), a("a2"), a("a3")), NOW, new_id)
    assert outcome.customer is not None and outcome.customer.id == "c1"
    assert [(r.identifier, r.reason) for r in outcome.rejected] == [
        (a("a2"), RejectReason.KEPT_APART)
    ]
    assert g.owner_of(a("a3")) == "c1" and g.owner_of(a("a2")) == "c2"


def test_separation_follows_customers_merged_in() -> None:
    # c3 was merged into c2 earlier; c1 is kept apart from c3, hence from c2.
    c2 = customer("c2", 1, a("a2"), merged=[(T0, "c3")])
    g = graph(customer("c1", 0, a("a1")), c2, separations=[("c1", "c3")])
    outcome = g.resolve(observe(a("a1"), a("a2")), NOW, new_id)
    assert [r.reason for r in outcome.rejected] == [RejectReason.KEPT_APART]


def test_blocked_and_erased_values_are_never_linked() -> None:
    g = graph(erased_digests=[erased_digest(a("gone"))])
    outcome = g.resolve(observe(u("null"), a("gone"), a("a1")), NOW, new_id)
    assert outcome.customer is not None and outcome.customer.identifiers == (a("a1"),)
    assert {(r.identifier, r.reason) for r in outcome.rejected} == {
        (u("null"), RejectReason.BLOCKED_VALUE),
        (a("gone"), RejectReason.ERASED_BLOCKED),
    }
    assert u("null") not in g.links and a("gone") not in g.links


def test_everything_rejected_creates_nothing() -> None:
    g = graph()
    outcome = g.resolve(observe(u("undefined"), a("0000")), NOW, new_id)
    assert outcome.customer is None and not outcome.created
    assert len(outcome.rejected) == 2
    assert not g.journal.changed and not g.journal.changes


def test_one_rejection_refuses_an_all_or_nothing_observation_whole() -> None:
    # An alias of a1 (u1's visitor) to u2: without the option u2 joins a2's customer c2.
    g = graph(customer("c1", 0, u("u1"), a("a1")), customer("c2", 1, a("a2")))
    alias = Observation((u("u2"), a("a1"), a("a2")), "test", T0, {}, link_all_or_nothing=True)
    outcome = g.resolve(alias, NOW, new_id)
    assert outcome == Outcome(None, False, (), (Rejection(a("a1"), RejectReason.LIMIT_EXCEEDED),))
    assert not g.journal.changed and not g.journal.changes
    assert g.links == {u("u1"): "c1", a("a1"): "c1", a("a2"): "c2"}


def test_new_links_remember_their_origin_and_merges_do_not_change_it() -> None:
    g = graph(customer("c1", 0, a("a1")), customer("c2", 1, a("a2")))
    g.resolve(observe(a("a2"), a("a3")), NOW, new_id)
    g.resolve(observe(a("a1"), a("a2")), NOW, new_id)
    [link] = g.journal.new_links
    assert link.identifier == a("a3") and link.origin_customer_id == "c2"
    assert g.owner_of(a("a3")) == "c1"


def test_attributes_latest_observation_wins_and_merge_keeps_the_latest() -> None:
    g = graph(
        customer("c1", 0, a("a1"), attributes={"given_name": "Old"}, attributes_time=T0),
        customer(
            "c2",
            1,
            a("a2"),
            attributes={"given_name": "New"},
            attributes_time=T0 + timedelta(hours=1),
        ),
    )
    stale = g.resolve(
        observe(a("a1"), attributes={"given_name": "Stale"}, at=T0 - timedelta(hours=1)),
        NOW,
        new_id,
    )
    assert stale.customer is not None and stale.customer.attributes == {"given_name": "Old"}
    merged = g.resolve(observe(a("a1"), a("a2")), NOW, new_id)
    assert merged.customer is not None and merged.customer.attributes == {"given_name": "New"}
    latest = g.resolve(
        observe(a("a2"), attributes={"family_name": "Li"}, at=T0 + timedelta(hours=2)), NOW, new_id
    )
    assert latest.customer is not None and latest.customer.attributes == {"family_name": "Li"}


def test_attributes_observed_in_the_future_do_not_freeze_later_ones() -> None:
    ahead = NOW + timedelta(days=365 * 75)  # a client clock decades ahead
    g = graph(
        customer("c1", 0, a("a1")),
        customer("c2", 1, a("a2"), attributes={"given_name": "Old"}, attributes_time=ahead),
    )
    wrong = g.resolve(observe(a("a1"), attributes={"given_name": "Wrong"}, at=ahead), NOW, new_id)
    assert wrong.customer is not None and wrong.customer.attributes == {"given_name": "Wrong"}
    later = NOW + timedelta(minutes=1)
    for who, name in (("a1", "Ada"), ("a2", "Grace")):  # stored before this fix, too
        right = g.resolve(observe(a(who), attributes={"given_name": name}, at=later), later, new_id)
        assert right.customer is not None and right.customer.attributes == {"given_name": name}
    stale = g.resolve(observe(a("a1"), attributes={"given_name": "Stale"}, at=NOW), later, new_id)
    assert stale.customer is not None and stale.customer.attributes == {"given_name": "Ada"}


def test_plan_merge_applies_the_same_rules() -> None:
    g = graph(
        customer("c1", 0, u("u1")),
        customer("c2", 1, u("u2")),
        customer("c3", 2, a("a3")),
        customer("c4", 3, a("a4")),
        separations=[("c1", "c4")],
    )
    survivor, merged, refused = g.plan_merge(["c4", "c3", "c2", "c1"], NOW)
    assert survivor == "c1"
    assert merged == ["c3"]
    assert refused == [("c2", RejectReason.LIMIT_EXCEEDED), ("c4", RejectReason.KEPT_APART)]
    result = g.merge(survivor, merged, source="dedup", now=NOW)
    assert set(result.identifiers) == {u("u1"), a("a3")}
    assert [(m.survivor_id, m.merged_id, m.source) for m in g.journal.merges] == [
        ("c1", "c3", "dedup")
    ]
