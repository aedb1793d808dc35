"""Fellegi-Sunter match model: m, u and the prior learned by EM from unlabelled data.

Over 400 lines on purpose: training, scoring and explaining share one vectorised core.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import is_

import numpy as np

from .blocking import (
    BLOCKING_RULES,
    KEY_ATTRIBUTE,
    LOOSE_RULES,
    blocking_keys,
    candidate_pairs,
    pairs_within_blocks,
    rule_key,
    sharing_a_block,
)
from .comparisons import (
    COMPARISONS,
    NOT_COMPARED,
    NULL_LEVEL,
    compare,
    drop_dependent_levels,
    swapped_address_lines,
    swapped_names,
)
from .records import NULL_CODE, Column, PersonRecord, date_parts, encode

FORMAT = 1
CHUNK_PAIRS = 1_000_000
MAX_EM_PAIRS = 1_000_000  # estimates use a random sample of candidate pairs beyond this
MAX_EM_PAIRS_PER_RULE = 200_000
MIN_RULE_PAIRS = 20
RANDOM_PAIRS = 200_000  # sampled to estimate u
MAX_EM_ITERATIONS = 200
EM_TOLERANCE = 1e-6
STORED_FREQUENCIES = 5_000  # most frequent values kept per term-frequency attribute
_SMOOTHING = 1e-3  # pseudo-count per level so no m or u is ever exactly 0
# Starting point of EM, deliberately agnostic: a start that expects matches to agree almost
# always (and to be rare) talks EM out of the duplicates that moved or mistyped.
_START_M = {
    "string": [0.15, 0.05, 0.1, 0.7],
    "date": [0.15, 0.1, 0.75],
    "code": [0.2, 0.8],
}
_START_PRIOR = 0.5
# Pseudo-matches (a Dirichlet prior on m, shaped like _START_M): negligible when the data holds
# duplicates, but keeps m sensible (agreement is evidence for a match) when it holds none.
_M_PSEUDO_MATCHES = 5.0
# Floor of the random-pair prior: assume at least one record in a thousand has a duplicate, so
# that a workspace without duplicates yet still recognises an identical record as a match.
_MIN_DUPLICATE_SHARE = 1e-3


@dataclass(frozen=True)
class MatchExplanation:
    probability: float
    match_weight: float
    # (attribute, level label, bayes factor); the first entry is ("prior", "prior_odds", odds),
    # so the product of all factors is the match odds probability / (1 - probability).
    comparisons: list[tuple[str, str, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TermFrequencies:
    """Share of non-empty records holding each (frequent) value of one attribute."""

    values: dict[str, float]
    other: float  # frequency assumed for values not in `values`
    base_u: float  # chance two random records agree exactly: sum of squared frequencies

    @classmethod
    def of(cls, column: Column) -> TermFrequencies | None:
        counts = column.counts()
        counts[NULL_CODE] = 0
        total = int(counts.sum())
        if total == 0:
            return None
        present = np.flatnonzero(counts)
        # Most frequent first; ties broken by value so training is deterministic.
        ranked = sorted(present.tolist(), key=lambda c: (-int(counts[c]), column.vocabulary[c]))
        kept, tail = ranked[:STORED_FREQUENCIES], ranked[STORED_FREQUENCIES:]
        values = {str(column.vocabulary[c]): int(counts[c]) / total for c in kept}
        tail_mass = sum(int(counts[c]) for c in tail)
        other = tail_mass / total / len(tail) if tail else 1 / total
        frequencies = counts[present] / total
        return cls(values=values, other=other, base_u=float(np.square(frequencies).sum()))

    def adjustment(self, vocabulary: np.ndarray) -> np.ndarray:
        """log2 factor applied on an exact match of each value: rare values weigh more."""
        frequency = np.fromiter(
            (self.values.get(v, self.other) for v in vocabulary), dtype=np.float64
        )
        return np.log2(self.base_u / frequency)


class MatchModel:
    def __init__(
        self,
        *,
        prior: float,
        m: Mapping[str, Sequence[float]],
        u: Mapping[str, Sequence[float]],
        term_frequencies: Mapping[str, TermFrequencies],
        training: Mapping[str, int | float] | None = None,
    ) -> None:
        self.prior = float(prior)
        self.m = {a: [float(x) for x in v] for a, v in m.items()}
        self.u = {a: [float(x) for x in v] for a, v in u.items()}
        self.term_frequencies = dict(term_frequencies)
        self.training = dict(training or {})
        self._prepared: _Prepared | None = None
        self._prior_weight = math.log2(self.prior / (1 - self.prior))
        # log2 bayes factor per attribute and level; "null" carries no evidence.
        self._level_weights = [
            np.array(
                [0.0]
                + [
                    math.log2(mi / ui)
                    for mi, ui in zip(self.m[c.attribute], self.u[c.attribute], strict=True)
                ]
            )
            for c in COMPARISONS
        ]

    # ---- training -------------------------------------------------------------------------

    @classmethod
    def train(cls, records: Sequence[PersonRecord], *, seed: int = 0) -> MatchModel:
        if len(records) < 2:
            raise ValueError("training needs at least 2 records")
        rng = np.random.default_rng(seed)
        columns = encode(records)
        n = len(records)
        keys = blocking_keys(columns)
        parts = _date_parts(columns)

        # u: how often two records picked at random agree, level by level (Splink does the same).
        sample = min(RANDOM_PAIRS, n * (n - 1) // 2)
        left = rng.integers(0, n, sample)
        right = (left + rng.integers(1, n, sample)) % n
        random_gamma = _comparison_vectors(columns, parts, left, right)
        u = {
            c.attribute: _distribution(np.bincount(random_gamma[:, i], minlength=len(c.levels)))
            for i, c in enumerate(COMPARISONS)
        }

        # m: EM (u held fixed) on the pairs of each blocking rule in turn, leaving out the
        # attributes the rule forced to agree; each attribute's m is the match-weighted mean over
        # the rules that could observe it. Per-rule sessions keep correlated attributes (everyone
        # in one street shares postal code, locality and street) from becoming the "match" class.
        m_sum = {c.attribute: np.zeros(len(c.levels) - 1) for c in COMPARISONS}
        m_weight = dict.fromkeys(m_sum, 0.0)
        iterations = 0
        for rule in BLOCKING_RULES:
            pairs = pairs_within_blocks(rule_key(keys, rule))
            if len(pairs) < MIN_RULE_PAIRS:
                continue
            if len(pairs) > MAX_EM_PAIRS_PER_RULE:
                pairs = pairs[rng.choice(len(pairs), MAX_EM_PAIRS_PER_RULE, replace=False)]
            gamma = _comparison_vectors(columns, parts, pairs[:, 0], pairs[:, 1])
            held_out = {KEY_ATTRIBUTE.get(key, key) for key in rule}
            observed = [i for i, c in enumerate(COMPARISONS) if c.attribute not in held_out]
            gamma[:, [i for i in range(len(COMPARISONS)) if i not in observed]] = NULL_LEVEL
            start_m = {c.attribute: list(_START_M[c.kind]) for c in COMPARISONS}
            prior, m_rule, _, used = expectation_maximisation(
                gamma, _START_PRIOR, start_m, u, fix_u=True
            )
            iterations += used
            matches = prior * len(pairs)
            for i in observed:
                attribute = COMPARISONS[i].attribute
                m_sum[attribute] += matches * np.asarray(m_rule[attribute])
                m_weight[attribute] += matches
        m = {
            c.attribute: (
                (m_sum[c.attribute] / m_weight[c.attribute]).tolist()
                if m_weight[c.attribute] > 0
                else list(_START_M[c.kind])
            )
            for c in COMPARISONS
        }

        # The prior: chance that two records picked at random match. Pairs outside every block
        # are taken as non-matches, so EM for it needs only the candidate pairs.
        all_pairs = candidate_pairs(keys, n)
        n_candidates = len(all_pairs)
        pairs = all_pairs
        if len(pairs) > MAX_EM_PAIRS:
            pairs = pairs[rng.choice(len(pairs), MAX_EM_PAIRS, replace=False)]
        gamma = _comparison_vectors(columns, parts, pairs[:, 0], pairs[:, 1])
        prior = _random_pair_prior(gamma, m, u, n_candidates, n * (n - 1) / 2)
        term_frequencies = {
            c.attribute: tf
            for c in COMPARISONS
            if c.term_frequency and (tf := TermFrequencies.of(columns[c.attribute])) is not None
        }
        model = cls(
            prior=prior,
            m=m,
            u=u,
            term_frequencies=term_frequencies,
            training={
                "records": n,
                "candidate_pairs": n_candidates,
                "em_iterations": iterations,
                "seed": seed,
            },
        )
        # Training is usually followed by deduplicating the same records: keep their encoding
        # and candidate pairs for that one call (checked record by record, then dropped).
        model._prepared = _Prepared(tuple(records), columns, all_pairs)
        return model

    # ---- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "prior": self.prior,
            "comparisons": {
                c.attribute: {
                    "levels": list(c.levels),
                    "m": list(self.m[c.attribute]),
                    "u": list(self.u[c.attribute]),
                }
                for c in COMPARISONS
            },
            "term_frequencies": {
                attribute: {"values": dict(tf.values), "other": tf.other, "base_u": tf.base_u}
                for attribute, tf in self.term_frequencies.items()
            },
            # For the record only: the rules live in code (blocking.py), not in the model.
            "blocking_rules": [list(rule) for rule in BLOCKING_RULES],
            "loose_blocking_rules": [list(rule) for rule in LOOSE_RULES],
            "training": dict(self.training),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MatchModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported match model format {data.get('format')!r}")
        comparisons = data["comparisons"]
        for c in COMPARISONS:
            stored = comparisons[c.attribute]
            if len(stored["m"]) != len(c.levels) - 1 or len(stored["u"]) != len(c.levels) - 1:
                raise ValueError(f"match model levels of {c.attribute} do not match this engine")
        return cls(
            prior=data["prior"],
            m={a: v["m"] for a, v in comparisons.items()},
            u={a: v["u"] for a, v in comparisons.items()},
            term_frequencies={
                a: TermFrequencies(values=dict(v["values"]), other=v["other"], base_u=v["base_u"])
                for a, v in data.get("term_frequencies", {}).items()
            },
            training=data.get("training", {}),
        )

    # ---- use ------------------------------------------------------------------------------

    def candidate_pairs(self, records: Sequence[PersonRecord]) -> np.ndarray:
        return candidate_pairs(blocking_keys(encode(records)), len(records))

    def candidates_for(self, record: PersonRecord, records: Sequence[PersonRecord]) -> np.ndarray:
        everyone = [*records, record]
        return sharing_a_block(blocking_keys(encode(everyone)), len(records))

    def score_pairs(
        self, left: Sequence[PersonRecord], right: Sequence[PersonRecord]
    ) -> np.ndarray:
        if len(left) != len(right):
            raise ValueError("left and right must have the same length")
        n = len(left)
        scorer = _Scorer(self, encode([*left, *right]))
        return _probability(scorer.weights(np.arange(n), np.arange(n, 2 * n)))

    def explain(self, left: PersonRecord, right: PersonRecord) -> MatchExplanation:
        scorer = _Scorer(self, encode([left, right]))
        zero, one = np.array([0]), np.array([1])
        weight = float(scorer.weights(zero, one)[0])
        comparisons = [("prior", "prior_odds", 2.0**self._prior_weight)]
        gamma = scorer.gamma(zero, one)[0]
        for index, c in enumerate(COMPARISONS):
            level = int(gamma[index])
            bits = float(self._level_weights[index][level])
            if level == c.exact_level and c.attribute in scorer.adjustments:
                bits += float(scorer.adjustments[c.attribute][scorer.codes(index)[0]])
            label = c.levels[level]
            if level == NULL_LEVEL and NULL_CODE not in scorer.codes(index):
                label = NOT_COMPARED  # both present, but another comparison accounts for it
            comparisons.append((c.attribute, label, 2.0**bits))
        return MatchExplanation(
            probability=float(_probability(np.array([weight]))[0]),
            match_weight=weight,
            comparisons=comparisons,
        )

    def deduplicate(
        self,
        records: Sequence[PersonRecord],
        *,
        min_probability: float,
        progress: Callable[[float], None] | None = None,
    ) -> list[tuple[int, int, float]]:
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared.holds(records):
            columns, pairs = prepared.columns, prepared.pairs
        else:
            columns = encode(records)
            pairs = candidate_pairs(blocking_keys(columns), len(records))
        if progress:
            progress(0.0)
        scorer = _Scorer(self, columns)
        found: list[tuple[int, int, float]] = []
        for start in range(0, len(pairs), CHUNK_PAIRS):
            chunk = pairs[start : start + CHUNK_PAIRS]
            probability = _probability(scorer.weights(chunk[:, 0], chunk[:, 1]))
            keep = np.flatnonzero(probability >= min_probability)
            found.extend(
                zip(
                    chunk[keep, 0].tolist(),
                    chunk[keep, 1].tolist(),
                    probability[keep].tolist(),
                    strict=True,
                )
            )
            if progress:
                progress(min(1.0, (start + len(chunk)) / len(pairs)))
        if progress and len(pairs) == 0:
            progress(1.0)
        return found


@dataclass(frozen=True, slots=True)
class _Prepared:
    records: tuple[PersonRecord, ...]
    columns: Mapping[str, Column]
    pairs: np.ndarray

    def holds(self, records: Sequence[PersonRecord]) -> bool:
        return len(records) == len(self.records) and all(map(is_, records, self.records))


class _Scorer:
    """A model applied to one encoded set of records."""

    def __init__(self, model: MatchModel, columns: Mapping[str, Column]) -> None:
        self.model = model
        self.columns = columns
        self.parts = _date_parts(columns)
        self.adjustments = {
            attribute: tf.adjustment(columns[attribute].vocabulary)
            for attribute, tf in model.term_frequencies.items()
        }

    def codes(self, index: int) -> np.ndarray:
        return self.columns[COMPARISONS[index].attribute].codes

    def gamma(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return _comparison_vectors(self.columns, self.parts, left, right)

    def weights(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        gamma = self.gamma(left, right)
        total = np.full(len(left), self.model._prior_weight)
        for index, c in enumerate(COMPARISONS):
            levels = gamma[:, index]
            total += self.model._level_weights[index][levels]
            adjustment = self.adjustments.get(c.attribute)
            if adjustment is not None:
                exact = np.flatnonzero(levels == c.exact_level)
                total[exact] += adjustment[self.codes(index)[left[exact]]]
        return total


def _probability(weight: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-weight))


def _date_parts(columns: Mapping[str, Column]) -> dict[str, np.ndarray]:
    return {
        c.attribute: date_parts(columns[c.attribute].vocabulary)
        for c in COMPARISONS
        if c.kind == "date"
    }


def _random_pair_prior(
    gamma: np.ndarray,
    m: Mapping[str, Sequence[float]],
    u: Mapping[str, Sequence[float]],
    n_candidates: int,
    n_all_pairs: float,
) -> float:
    """EM for the prior alone (m and u fixed) over all pairs, non-candidates being non-matches.

    `gamma` may be a sample of the candidate pairs; it stands for all n_candidates of them.
    """
    if len(gamma) == 0:
        return min(0.5, 1.0 / max(n_all_pairs, 1.0))
    bayes = np.zeros(len(gamma))
    for index, c in enumerate(COMPARISONS):
        log_bf = np.r_[0.0, np.log(np.asarray(m[c.attribute]) / np.asarray(u[c.attribute]))]
        bayes += log_bf[gamma[:, index]]
    scale = n_candidates / len(gamma)
    records = math.sqrt(2 * n_all_pairs) + 1
    floor = min(0.5, max(1e-12, _MIN_DUPLICATE_SHARE * records / n_all_pairs))
    prior = min(0.5, n_candidates / n_all_pairs * _START_PRIOR)
    for _ in range(MAX_EM_ITERATIONS):
        log_odds = math.log(prior / (1 - prior)) + bayes
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        expected_matches = scale * float(posterior.sum())
        new_prior = min(0.5, max(expected_matches / n_all_pairs, floor))
        if abs(new_prior - prior) <= 1e-4 * prior:
            return new_prior
        prior = new_prior
    return prior


def _distribution(level_counts: np.ndarray) -> list[float]:
    """Share of each non-null level, smoothed."""
    counts = level_counts[1:].astype(np.float64) + _SMOOTHING
    return (counts / counts.sum()).tolist()


def _comparison_vectors(
    columns: Mapping[str, Column],
    parts: Mapping[str, np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    gamma = np.zeros((len(left), len(COMPARISONS)), dtype=np.int8)
    # Attributes that drop_dependent_levels may discard are compared only where they count
    # (each entry: attribute -> the comparison deciding where it is needed), saving string
    # similarity work; the result is the same as comparing everything.
    for index in _COMPARE_ORDER:
        c = COMPARISONS[index]
        if c.attribute == _DEPENDENT[0]:  # all independent attributes compared: fix swaps
            _swaps(gamma, columns, left, right)
        needed = _needed(c.attribute, gamma)
        rows = slice(None) if needed is None else needed
        gamma[rows, index] = compare(
            c, columns[c.attribute], left[rows], right[rows], parts.get(c.attribute)
        )
    return drop_dependent_levels(gamma)


def _swaps(gamma, columns, left, right) -> None:
    swapped_names(gamma, columns["given_name"], columns["family_name"], left, right)
    swapped_address_lines(gamma, columns["address_line1"], columns["address_line2"], left, right)


_POSITION = {c.attribute: i for i, c in enumerate(COMPARISONS)}
_DEPENDENT = ("street_number", "locality", "region")  # compared last, in this order
_COMPARE_ORDER = [i for i, c in enumerate(COMPARISONS) if c.attribute not in _DEPENDENT] + [
    _POSITION[attribute] for attribute in _DEPENDENT
]


def _needed(attribute: str, gamma: np.ndarray) -> np.ndarray | None:
    """Rows where `attribute` can still count, given the attributes compared before it."""
    postal = gamma[:, _POSITION["postal_code"]]
    if attribute == "locality":  # only if postal codes are missing or merely look alike
        exact = COMPARISONS[_POSITION["postal_code"]].exact_level
        return np.flatnonzero((postal != 1) & (postal != exact))
    if attribute == "region":  # only if neither postal code nor locality compared
        return np.flatnonzero((postal == NULL_LEVEL) & (gamma[:, _POSITION["locality"]] == 0))
    if attribute == "street_number":  # only if streets are not different
        return np.flatnonzero(gamma[:, _POSITION["address_line1"]] != 1)
    return None


def expectation_maximisation(
    gamma: np.ndarray,
    prior: float,
    m: dict[str, list[float]],
    u: dict[str, list[float]],
    *,
    fix_u: bool = False,
) -> tuple[float, dict[str, list[float]], dict[str, list[float]], int]:
    """EM for the two-class mixture over comparison vectors (one column per COMPARISONS entry).

    Works on distinct patterns weighted by their counts, so its cost does not grow with the
    number of pairs. Null levels carry no evidence and are left out of every estimate.
    With fix_u, u stays as given (estimated elsewhere, e.g. from random pairs).
    Returns (prior, m, u, iterations).
    """
    if len(gamma) == 0:
        return prior, m, u, 0
    base = max(len(c.levels) for c in COMPARISONS)
    packed = np.zeros(len(gamma), dtype=np.int64)
    for index in range(len(COMPARISONS)):
        packed = packed * base + gamma[:, index]
    _, first, counts = np.unique(packed, return_index=True, return_counts=True)
    patterns = gamma[first].astype(np.int64)
    counts = counts.astype(np.float64)
    m_arr = [np.array(m[c.attribute]) for c in COMPARISONS]
    u_arr = [np.array(u[c.attribute]) for c in COMPARISONS]
    iterations = 0
    for iterations in range(1, MAX_EM_ITERATIONS + 1):  # noqa: B007 - reported afterwards
        log_odds = np.full(len(patterns), math.log(prior / (1 - prior)))
        for index in range(len(COMPARISONS)):
            log_m = np.log(np.r_[1.0, m_arr[index]])
            log_u = np.log(np.r_[1.0, u_arr[index]])
            log_odds += log_m[patterns[:, index]] - log_u[patterns[:, index]]
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        match_mass, other_mass = counts * posterior, counts * (1 - posterior)
        new_prior = float(np.clip(match_mass.sum() / counts.sum(), 1e-9, 1 - 1e-9))
        change = abs(new_prior - prior)
        prior = new_prior
        for index, c in enumerate(COMPARISONS):
            column = patterns[:, index]
            levels = len(c.levels)
            m_counts = np.bincount(column, weights=match_mass, minlength=levels)
            if fix_u:  # learning m alone: regularise it (see _M_PSEUDO_MATCHES)
                m_counts[1:] += _M_PSEUDO_MATCHES * np.asarray(_START_M[c.kind])
            new_m = _distribution(m_counts)
            new_u = (
                u_arr[index]
                if fix_u
                else _distribution(np.bincount(column, weights=other_mass, minlength=levels))
            )
            change = max(change, np.abs(np.subtract(new_m, m_arr[index])).max())
            change = max(change, np.abs(np.subtract(new_u, u_arr[index])).max())
            m_arr[index], u_arr[index] = np.array(new_m), np.array(new_u)
        if change < EM_TOLERANCE:
            break
    m = {c.attribute: m_arr[i].tolist() for i, c in enumerate(COMPARISONS)}
    u = {c.attribute: u_arr[i].tolist() for i, c in enumerate(COMPARISONS)}
    return prior, m, u, iterations
