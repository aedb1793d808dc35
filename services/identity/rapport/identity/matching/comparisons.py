"""Comparison levels of one attribute over many pairs, vectorised.

Level 0 is always "null" (either side missing: no evidence either way); the highest level is
"exact". Strings use Jaro-Winkler from rapidfuzz; dates compare year, month and day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from .records import NULL_CODE, Column, date_parts

STRING_LEVELS = ("null", "else", "jaro_winkler>=0.8", "jaro_winkler>=0.92", "exact")
DATE_LEVELS = ("null", "else", "one_part_differs_or_day_month_swapped", "exact")
CODE_LEVELS = ("null", "else", "exact")
NULL_LEVEL = 0


@dataclass(frozen=True, slots=True)
class AttributeComparison:
    attribute: str
    kind: str  # "string" | "date" | "code"
    term_frequency: bool = False

    @property
    def levels(self) -> tuple[str, ...]:
        return {"string": STRING_LEVELS, "date": DATE_LEVELS, "code": CODE_LEVELS}[self.kind]

    @property
    def exact_level(self) -> int:
        return len(self.levels) - 1


COMPARISONS: tuple[AttributeComparison, ...] = (
    AttributeComparison("given_name", "string", term_frequency=True),
    AttributeComparison("family_name", "string", term_frequency=True),
    AttributeComparison("birth_date", "date"),
    AttributeComparison("street_number", "string"),
    AttributeComparison("address_line1", "string"),
    AttributeComparison("address_line2", "string"),
    AttributeComparison("locality", "string", term_frequency=True),
    AttributeComparison("postal_code", "string"),
    AttributeComparison("region", "code"),
)

_JW_HIGH, _JW_LOW = 0.92, 0.8


def compare(
    comparison: AttributeComparison,
    column: Column,
    left: np.ndarray,
    right: np.ndarray,
    parts: np.ndarray | None = None,
) -> np.ndarray:
    """int8 level per pair (left[k], right[k] are record indices).

    `parts` is date_parts(column.vocabulary) for dates, passed in so chunks share it.
    """
    a, b = column.codes[left], column.codes[right]
    levels = np.full(len(a), 1, dtype=np.int8)  # "else"
    levels[(a == b)] = comparison.exact_level
    levels[(a == NULL_CODE) | (b == NULL_CODE)] = NULL_LEVEL
    differing = np.flatnonzero(levels == 1)
    if len(differing) == 0 or comparison.kind == "code":
        return levels
    a, b = a[differing], b[differing]
    if comparison.kind == "string":
        similarity = _jaro_winkler(column.vocabulary, a, b)
        levels[differing[similarity >= _JW_LOW]] = 2
        levels[differing[similarity >= _JW_HIGH]] = 3
    else:
        if parts is None:
            parts = date_parts(column.vocabulary)
        pa, pb = parts[a], parts[b]
        both_dates = (pa[:, 0] >= 0) & (pb[:, 0] >= 0)
        one_part = (pa != pb).sum(axis=1) == 1
        swapped = (pa[:, 0] == pb[:, 0]) & (pa[:, 1] == pb[:, 2]) & (pa[:, 2] == pb[:, 1])
        levels[differing[both_dates & (one_part | swapped)]] = 2
    return levels


def _jaro_winkler(vocabulary: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Similarity per pair of codes (rapidfuzz, all cores)."""
    return cpdist(
        vocabulary[a].tolist(),
        vocabulary[b].tolist(),
        scorer=JaroWinkler.normalized_similarity,
        workers=-1,
        dtype=np.float32,
    )


_INDEX = {c.attribute: i for i, c in enumerate(COMPARISONS)}
NOT_COMPARED = "not_compared"


def swapped_names(
    gamma: np.ndarray, given: Column, family: Column, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Given and family name entered the other way round count as both agreeing exactly."""
    g, f = _INDEX["given_name"], _INDEX["family_name"]
    both_differ = np.flatnonzero((gamma[:, g] == 1) & (gamma[:, f] == 1))
    if len(both_differ):
        a, b = left[both_differ], right[both_differ]
        swapped = (given.vocabulary[given.codes[a]] == family.vocabulary[family.codes[b]]) & (
            family.vocabulary[family.codes[a]] == given.vocabulary[given.codes[b]]
        )
        gamma[both_differ[swapped], g] = COMPARISONS[g].exact_level
        gamma[both_differ[swapped], f] = COMPARISONS[f].exact_level
    return gamma


def swapped_address_lines(
    gamma: np.ndarray, line1: Column, line2: Column, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """First and second address lines entered the other way round (typos allowed) agree."""
    one, two = _INDEX["address_line1"], _INDEX["address_line2"]
    rows = np.flatnonzero(
        (gamma[:, one] == 1) & (line2.codes[left] != NULL_CODE) & (line2.codes[right] != NULL_CODE)
    )
    if len(rows) == 0:
        return gamma
    a, b = left[rows], right[rows]
    cross = [
        cpdist(
            first.vocabulary[first.codes[x]].tolist(),
            second.vocabulary[second.codes[y]].tolist(),
            scorer=JaroWinkler.normalized_similarity,
            workers=-1,
            dtype=np.float32,
        )
        for first, second, x, y in ((line1, line2, a, b), (line2, line1, a, b))
    ]
    similarity = np.minimum(cross[0], cross[1])
    level = np.where(similarity >= 1.0, 4, np.where(similarity >= _JW_HIGH, 3, 0)).astype(np.int8)
    swapped = level > 0
    gamma[rows[swapped], one] = level[swapped]
    gamma[rows[swapped], two] = level[swapped]
    return gamma


def drop_dependent_levels(gamma: np.ndarray) -> np.ndarray:
    """Set to the no-evidence level the comparisons another comparison already accounts for.

    Address parts move together (a person who moves changes postal code, locality, region and
    street at once) and geography is nested (postal code within locality within region);
    counting each as independent evidence would both over-reward neighbours and make a moved
    duplicate look like a stranger. So: locality counts only when postal codes are missing or
    only look alike (a typo in one of them is then likely), region only when neither postal
    code nor locality can be compared, and the street number and second address line only
    when the first address lines are not different.
    """
    postal_level = gamma[:, _INDEX["postal_code"]]
    postal = postal_level != NULL_LEVEL
    locality = gamma[:, _INDEX["locality"]] != NULL_LEVEL
    postal_exact = COMPARISONS[_INDEX["postal_code"]].exact_level
    postal_decides = (postal_level == 1) | (postal_level == postal_exact)
    gamma[postal_decides, _INDEX["locality"]] = NULL_LEVEL
    gamma[postal | locality, _INDEX["region"]] = NULL_LEVEL
    street_differs = gamma[:, _INDEX["address_line1"]] == 1  # "else"
    gamma[street_differs, _INDEX["street_number"]] = NULL_LEVEL
    gamma[street_differs, _INDEX["address_line2"]] = NULL_LEVEL
    return gamma
