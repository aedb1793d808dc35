"""Deduplication domain: thresholds, clustering of matched pairs, bare-record validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapport.errors import InvalidArgument
from rapport.identity.domain.deduplication import Thresholds, clusters, ordered_pair
from rapport.identity.domain.rules import InvalidThresholds
from rapport.identity.service_layer.match_models import person_record
from rapport.identity.service_layer.matching import validate_record

WORKSPACE_RULES = Thresholds(merge=0.95, review=0.7)


def test_zero_thresholds_take_the_workspace_rules() -> None:
    assert Thresholds.from_requested(0, 0, defaults=WORKSPACE_RULES) == WORKSPACE_RULES
    assert Thresholds.from_requested(0.99, 0, defaults=WORKSPACE_RULES) == Thresholds(0.99, 0.7)


@pytest.mark.parametrize(
    ("merge", "review", "field"),
    [
        (1.5, 0, "merge_threshold"),
        (0, -0.1, "review_threshold"),
        (float("nan"), 0, "merge_threshold"),
        (0.5, 0.6, "review_threshold"),  # review above merge
        (0, 0.96, "review_threshold"),  # above the workspace's merge threshold
    ],
)
def test_bad_thresholds_name_the_field(merge: float, review: float, field: str) -> None:
    with pytest.raises(InvalidThresholds) as caught:
        Thresholds.from_requested(merge, review, defaults=WORKSPACE_RULES)
    assert caught.value.field == field


def test_clusters_are_connected_components() -> None:
    pairs = [("c", "d"), ("a", "b"), ("b", "c"), ("x", "y")]
    assert clusters(pairs) == [["a", "b", "c", "d"], ["x", "y"]]
    assert clusters([]) == []


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.sampled_from("abcdefgh"))))
def test_clusters_partition_the_customers_and_keep_pairs_together(
    pairs: list[tuple[str, str]],
) -> None:
    found = clusters(pairs)
    members = [member for cluster in found for member in cluster]
    assert len(members) == len(set(members))  # disjoint
    assert set(members) == {customer for pair in pairs for customer in pair}
    cluster_of = {member: index for index, cluster in enumerate(found) for member in cluster}
    assert all(cluster_of[a] == cluster_of[b] for a, b in pairs)
    # Order does not matter.
    assert clusters(list(reversed(pairs))) == found


def test_pairs_are_stored_smallest_id_first() -> None:
    assert ordered_pair("b", "a") == ("a", "b") == ordered_pair("a", "b")


def test_a_bare_record_keeps_its_non_empty_attributes() -> None:
    attributes = validate_record(
        {"given_name": "Ann", "family_name": "", "birth_date": "1980-02-29"}, field="record"
    )
    assert attributes == {"given_name": "Ann", "birth_date": "1980-02-29"}
    record = person_record("c1", attributes)
    assert (record.record_id, record.given_name, record.family_name) == ("c1", "Ann", "")


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({}, "record"),
        ({"given_name": "   "}, "record"),
        ({"given_name": "Ann", "birth_date": "29/02/1980"}, "record.birth_date"),
        ({"given_name": "Ann", "birth_date": "1981-02-29"}, "record.birth_date"),
        ({"locality": "x" * 201}, "record.locality"),
    ],
)
def test_a_bad_bare_record_names_the_field(attributes: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_record(attributes, field="record")
    assert caught.value.field == field
