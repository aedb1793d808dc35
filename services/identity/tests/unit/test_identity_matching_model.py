"""The Fellegi-Sunter matching engine (pure: numpy + rapidfuzz)."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import numpy as np
import pytest
from rapport.identity.matching import ATTRIBUTES, MatchExplanation, MatchModel, PersonRecord
from rapport.identity.matching.comparisons import COMPARISONS
from rapport.identity.matching.model import expectation_maximisation

GIVEN = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
]
FAMILY = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
]
STREETS = [
    "high street",
    "station road",
    "main street",
    "park avenue",
    "church lane",
    "victoria road",
    "green lane",
    "manor road",
    "kings road",
    "queens avenue",
]
TOWNS = [
    ("springfield", "1001"),
    ("riverton", "2002"),
    ("lakeside", "3003"),
    ("hillview", "4004"),
    ("fairfield", "5005"),
    ("greenwood", "6006"),
]


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    at = rng.randrange(1, len(word) - 1)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def population(size: int, duplicates: int, seed: int = 1):
    """People plus typo'd copies of some of them; returns records and the true pairs."""
    rng = random.Random(seed)
    records: list[PersonRecord] = []
    for k in range(size):
        town, postcode = rng.choice(TOWNS)
        records.append(
            PersonRecord(
                record_id=f"p{k}",
                given_name=rng.choice(GIVEN),
                family_name=rng.choice(FAMILY),
                birth_date=f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}",
                street_number=str(rng.randint(1, 200)),
                address_line1=rng.choice(STREETS),
                locality=town,
                postal_code=postcode,
                region="north",
            )
        )
    truth = set()
    for k in rng.sample(range(size), duplicates):
        original = records[k]
        copy = PersonRecord(
            record_id=f"d{k}",
            given_name=typo(rng, original.given_name)
            if rng.random() < 0.3
            else original.given_name,
            family_name=original.family_name.upper(),  # case never matters
            birth_date="" if rng.random() < 0.2 else original.birth_date,
            street_number=original.street_number,
            address_line1=typo(rng, original.address_line1),
            locality=original.locality,
            postal_code=original.postal_code,
            region=original.region,
        )
        truth.add((k, len(records)))
        records.append(copy)
    return records, truth


@pytest.fixture(scope="module")
def trained():
    records, truth = population(3000, 300)
    return MatchModel.train(records, seed=3), records, truth


def test_em_recovers_known_m_u_and_prior_from_generated_comparison_vectors() -> None:
    rng = np.random.default_rng(7)
    prior = 0.15
    true_m = {
        c.attribute: rng.dirichlet(np.r_[np.ones(len(c.levels) - 2), 8.0]) for c in COMPARISONS
    }
    true_u = {
        c.attribute: rng.dirichlet(np.r_[8.0, np.ones(len(c.levels) - 2)]) for c in COMPARISONS
    }
    n = 200_000
    is_match = rng.random(n) < prior
    gamma = np.empty((n, len(COMPARISONS)), dtype=np.int8)
    for index, c in enumerate(COMPARISONS):
        levels = np.arange(1, len(c.levels))
        drawn_m = rng.choice(levels, n, p=true_m[c.attribute])
        drawn_u = rng.choice(levels, n, p=true_u[c.attribute])
        column = np.where(is_match, drawn_m, drawn_u)
        column[rng.random(n) < 0.1] = 0  # missing values carry no evidence
        gamma[:, index] = column
    start_m = {
        c.attribute: list(
            np.full(len(c.levels) - 1, 1 / (len(c.levels) - 1))
            + np.r_[np.zeros(len(c.levels) - 2), 0.5]
        )
        for c in COMPARISONS
    }
    start_m = {a: list(np.array(v) / np.sum(v)) for a, v in start_m.items()}
    start_u = {
        c.attribute: list(np.full(len(c.levels) - 1, 1 / (len(c.levels) - 1))) for c in COMPARISONS
    }

    got_prior, got_m, got_u, iterations = expectation_maximisation(gamma, 0.3, start_m, start_u)

    assert iterations > 1
    assert got_prior == pytest.approx(prior, abs=0.01)
    for c in COMPARISONS:
        np.testing.assert_allclose(got_m[c.attribute], true_m[c.attribute], atol=0.02)
        np.testing.assert_allclose(got_u[c.attribute], true_u[c.attribute], atol=0.02)


def test_training_without_labels_finds_the_planted_duplicates(trained) -> None:
    model, records, truth = trained
    found = {(i, j) for i, j, _ in model.deduplicate(records, min_probability=0.5)}
    true_positives = len(found & truth)
    assert true_positives / len(found) > 0.95  # precision
    assert true_positives / len(truth) > 0.9  # recall
    assert model.m["family_name"][-1] > model.u["family_name"][-1]


def test_a_common_surname_weighs_less_than_a_rare_one() -> None:
    records, _ = population(2000, 100)
    rare = PersonRecord("r1", family_name="zelinski", given_name="anna", birth_date="1970-01-01")
    records = [*records, rare, PersonRecord("r2", family_name="zelinski", given_name="bob")]
    model = MatchModel.train(records)

    def family_factor(explanation: MatchExplanation) -> float:
        return next(bf for a, _, bf in explanation.comparisons if a == "family_name")

    common = model.explain(
        PersonRecord("a", family_name="smith", given_name="anna"),
        PersonRecord("b", family_name="smith", given_name="bob"),
    )
    uncommon = model.explain(
        PersonRecord("a", family_name="zelinski", given_name="anna"),
        PersonRecord("b", family_name="zelinski", given_name="bob"),
    )
    assert 1 < family_factor(common) < family_factor(uncommon)
    assert common.probability < uncommon.probability


def test_explain_factors_multiply_to_the_match_odds(trained) -> None:
    model, records, truth = trained
    i, j = sorted(truth)[0]
    for left, right in [(records[i], records[j]), (records[0], records[1])]:
        explanation = model.explain(left, right)
        assert [a for a, _, _ in explanation.comparisons] == ["prior", *ATTRIBUTES]
        odds = math.prod(bf for _, _, bf in explanation.comparisons)
        p = explanation.probability
        assert p / (1 - p) == pytest.approx(odds, rel=1e-6)  # p near 1 leaves few digits in 1 - p
        assert p == pytest.approx(odds / (1 + odds), rel=1e-12)
        assert explanation.match_weight == pytest.approx(math.log2(odds), abs=1e-9)
        assert p == model.score_pairs([left], [right])[0]


def test_model_round_trips_through_json_and_scores_identically(trained) -> None:
    model, records, _ = trained
    restored = MatchModel.from_dict(json.loads(json.dumps(model.to_dict())))
    left, right = records[:500], records[500:1000]
    assert np.array_equal(restored.score_pairs(left, right), model.score_pairs(left, right))
    assert restored.to_dict() == model.to_dict()


def test_from_dict_refuses_an_unknown_format(trained) -> None:
    data = trained[0].to_dict() | {"format": 99}
    with pytest.raises(ValueError):
        MatchModel.from_dict(data)


def test_candidate_pairs_are_exactly_the_pairs_sharing_a_blocking_key(trained) -> None:
    model = trained[0]
    records = [
        PersonRecord("0", given_name="Ann", family_name="Lee", birth_date="1980-02-03"),
        PersonRecord("1", given_name="ann ", family_name="Zhu", birth_date="1980-02-03"),  # rule 2
        PersonRecord(
            "2", given_name="Bo", family_name="Lea", birth_date="1980-07-07"
        ),  # soundex+year
        PersonRecord(
            "3",
            given_name="Cy",
            street_number="5",
            address_line1="Main St",
            locality="X",
            postal_code="9",
        ),
        PersonRecord(
            "4", given_name="Di", street_number="5", address_line1="main st", locality="x"
        ),  # address_line1 + street_number + locality with 3
        PersonRecord("5", given_name="Ed", postal_code="9"),  # postal code alone: not a rule
        PersonRecord(
            "6", given_name="", family_name="", birth_date="1980-02-03"
        ),  # nulls block nothing; the birth date alone does (loose rule, small blocks)
        PersonRecord("7", given_name="", family_name="", locality="x"),  # nulls only
    ]
    pairs = model.candidate_pairs(records)
    assert pairs.dtype == np.int64 and pairs.shape[1] == 2
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (0, 2), (0, 6), (1, 6), (3, 4)]
    assert sorted(model.candidates_for(records[0], records[1:]).tolist()) == [0, 1, 5]
    assert model.candidates_for(PersonRecord("x"), records).tolist() == []


def test_training_needs_two_records() -> None:
    with pytest.raises(ValueError):
        MatchModel.train([PersonRecord("only", given_name="ann")])
    with pytest.raises(ValueError):
        MatchModel.train([])


def test_two_records_are_enough_to_train_and_score() -> None:
    model = MatchModel.train([PersonRecord("a", given_name="x"), PersonRecord("b", given_name="y")])
    assert 0 <= model.score_pairs([PersonRecord("a")], [PersonRecord("b")])[0] <= 1


def test_empty_and_blank_attributes_are_the_null_level(trained) -> None:
    model = trained[0]
    explanation = model.explain(
        PersonRecord("a", given_name="ann", family_name="", locality="  "),
        PersonRecord("b", given_name="ann", family_name="", locality="x"),
    )
    levels = {a: (label, bf) for a, label, bf in explanation.comparisons}
    for attribute in ("family_name", "locality", "birth_date", "postal_code", "region"):
        assert levels[attribute] == ("null", 1.0)
    assert levels["given_name"][0] == "exact"


def test_birth_date_levels(trained) -> None:
    model = trained[0]

    def level(a: str, b: str) -> str:
        explanation = model.explain(
            PersonRecord("a", birth_date=a), PersonRecord("b", birth_date=b)
        )
        return next(label for attr, label, _ in explanation.comparisons if attr == "birth_date")

    assert level("1980-02-03", "1980-02-03") == "exact"
    assert level("1980-02-03", "1980-03-02") == "one_part_differs_or_day_month_swapped"
    assert level("1980-02-03", "1981-02-03") == "one_part_differs_or_day_month_swapped"
    assert level("1980-02-03", "1981-03-03") == "else"


def test_deduplicate_reports_progress_and_respects_the_threshold(trained) -> None:
    model, records, _ = trained
    seen: list[float] = []
    found = model.deduplicate(records, min_probability=0.99, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert all(i < j and p >= 0.99 for i, j, p in found)
    assert all(isinstance(i, int) and isinstance(p, float) for i, _, p in found)


def test_score_pairs_needs_equal_lengths(trained) -> None:
    with pytest.raises(ValueError):
        trained[0].score_pairs([PersonRecord("a")], [])


def levels_of(explanation: MatchExplanation) -> dict[str, str]:
    return {attribute: label for attribute, label, _ in explanation.comparisons}


def test_swapped_given_and_family_names_count_as_agreeing(trained) -> None:
    model = trained[0]
    straight = PersonRecord("a", given_name="hope", family_name="george", birth_date="1976-06-29")
    swapped = PersonRecord("b", given_name="george", family_name="hope", birth_date="1976-06-29")
    other = PersonRecord("c", given_name="george", family_name="smith", birth_date="1976-06-29")
    levels = levels_of(model.explain(straight, swapped))
    assert levels["given_name"] == levels["family_name"] == "exact"
    assert levels_of(model.explain(straight, other))["family_name"] == "else"


def test_nested_address_parts_are_not_counted_twice(trained) -> None:
    model = trained[0]
    home = PersonRecord(
        "a",
        street_number="5",
        address_line1="high street",
        locality="springfield",
        postal_code="1001",
        region="north",
    )
    same_area = PersonRecord(
        "b",
        street_number="7",
        address_line1="station road",
        locality="springfield",
        postal_code="1001",
        region="north",
    )
    levels = levels_of(model.explain(home, same_area))
    assert levels["postal_code"] == "exact"
    assert levels["locality"] == levels["region"] == "not_compared"  # implied by the postal code
    assert levels["street_number"] == "not_compared"  # on another street, numbers say nothing
    typo_in_postcode = PersonRecord(
        "c",
        street_number="5",
        address_line1="high street",
        locality="springfield",
        postal_code="1010",
    )
    levels = levels_of(model.explain(home, typo_in_postcode))
    assert levels["postal_code"].startswith("jaro_winkler")
    assert levels["locality"] == "exact"  # a look-alike postal code leaves locality to decide


def test_loose_blocking_rules_skip_big_blocks(monkeypatch) -> None:
    from rapport.identity.matching import blocking

    monkeypatch.setattr(blocking, "LOOSE_PAIR_BUDGET", 0)  # the smallest limit, whatever n
    limit = blocking.loose_block_limit(10)
    assert limit == 20
    crowd = [
        PersonRecord(str(k), given_name=f"g{k}", family_name="smith", postal_code="1000")
        for k in range(limit + 1)
    ]
    pair = [PersonRecord("x", given_name="a", family_name="jones", postal_code="2000")] * 2
    model = MatchModel.train(crowd + pair)
    pairs = model.candidate_pairs(crowd + pair).tolist()
    assert pairs == [[limit + 1, limit + 2]]  # postal code + initial: the crowd's block is too big


def test_lazy_comparison_equals_comparing_everything(trained) -> None:
    from rapport.identity.matching import comparisons, model, records

    _, people, _ = trained
    columns = records.encode(people)
    parts = model._date_parts(columns)
    rng = np.random.default_rng(5)
    left, right = rng.integers(0, len(people), 20_000), rng.integers(0, len(people), 20_000)
    full = np.empty((len(left), len(COMPARISONS)), dtype=np.int8)
    for index, c in enumerate(COMPARISONS):
        full[:, index] = comparisons.compare(
            c, columns[c.attribute], left, right, parts.get(c.attribute)
        )
    comparisons.swapped_names(full, columns["given_name"], columns["family_name"], left, right)
    comparisons.swapped_address_lines(
        full, columns["address_line1"], columns["address_line2"], left, right
    )
    comparisons.drop_dependent_levels(full)
    assert np.array_equal(model._comparison_vectors(columns, parts, left, right), full)


def test_deduplicating_the_training_records_gives_the_same_links_as_a_fresh_model() -> None:
    records, _ = population(1500, 150, seed=9)
    model = MatchModel.train(records)  # keeps the encoding for the next deduplicate call
    restored = MatchModel.from_dict(model.to_dict())  # has to encode again
    assert model.deduplicate(records, min_probability=0.5) == restored.deduplicate(
        records, min_probability=0.5
    )
    other = list(records)
    other[0] = PersonRecord("changed", given_name="zed")
    fresh = MatchModel.train(records)  # its kept encoding must not be used for `other`
    assert fresh.deduplicate(other, min_probability=0.5) == restored.deduplicate(
        other, min_probability=0.5
    )


def test_swapped_address_lines_count_as_agreeing_despite_a_typo(trained) -> None:
    model = trained[0]
    one = PersonRecord("a", address_line1="holman street", address_line2="kookaburra village")
    other = PersonRecord("b", address_line1="kookaburra village", address_line2="holmans treet")
    levels = levels_of(model.explain(one, other))
    assert levels["address_line1"] == levels["address_line2"] == "jaro_winkler>=0.92"
    unrelated = PersonRecord("c", address_line1="kookaburra village", address_line2="x")
    assert levels_of(model.explain(one, unrelated))["address_line1"] == "else"


def test_without_duplicates_an_identical_record_still_matches() -> None:
    # EM cannot learn m from data that holds no duplicates; the priors on m and on the
    # duplicate rate keep agreement meaning "same person" (found by FindMatches on day one).
    rng = random.Random(3)
    givens = ["anna", "ben", "carl", "dina", "emma", "finn", "gina", "hugo", "ida", "jon"]
    families = ["smith", "jones", "brown", "taylor", "wilson", "evans", "thomas", "walker"]
    records = [
        PersonRecord(
            str(i),
            given_name=rng.choice(givens) + rng.choice("abcdefgh"),
            family_name=rng.choice(families) + rng.choice("xyzw"),
            birth_date=f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            street_number=str(rng.randint(1, 200)),
            address_line1=f"{rng.choice(families)} street",
            postal_code=str(rng.randint(1000, 9999)),
        )
        for i in range(5000)
    ]
    model = MatchModel.train(records)
    probe = records[7]
    identical = dataclasses.replace(probe, record_id="probe")
    assert model.score_pairs([identical], [probe])[0] > 0.99
    assert model.score_pairs([records[1]], [records[2]])[0] < 0.01
