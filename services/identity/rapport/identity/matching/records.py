"""Person records and their integer-coded, column-wise form (the engine works on codes)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np
from rapport.identity.domain.attributes import ATTRIBUTE_NAMES

# The attributes matched: PersonAttributes' fields, as the domain names them.
ATTRIBUTES = ATTRIBUTE_NAMES

NULL_CODE = 0  # code 0 of every column is the empty (missing) value

_SPACES = re.compile(r"\s+")
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


@dataclass(frozen=True, slots=True)
class PersonRecord:
    record_id: str
    given_name: str = ""
    family_name: str = ""
    birth_date: str = ""
    street_number: str = ""
    address_line1: str = ""
    address_line2: str = ""
    locality: str = ""
    postal_code: str = ""
    region: str = ""


def normalise(value: str) -> str:
    """Case and spacing never distinguish two people."""
    return _SPACES.sub(" ", value).strip().lower() if value else ""


@dataclass(frozen=True, slots=True)
class Column:
    """One attribute over all records: codes index `vocabulary` (0 = missing)."""

    codes: np.ndarray  # int64, one per record
    vocabulary: np.ndarray  # object array of normalised strings, vocabulary[0] == ""

    def counts(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=len(self.vocabulary))


def encode_column(raw_values: Sequence[str]) -> Column:
    """Factorise raw strings, normalising each distinct raw value only once.

    The per-record loops run inside dict and map (C), which matters at a million records.
    """
    distinct_raw = list(dict.fromkeys(raw_values))
    normal_index: dict[str, int] = {"": NULL_CODE}
    raw_to_code = {}
    for value in distinct_raw:
        raw_to_code[value] = normal_index.setdefault(normalise(value), len(normal_index))
    codes = np.fromiter(
        map(raw_to_code.__getitem__, raw_values), dtype=np.int64, count=len(raw_values)
    )
    vocabulary = np.empty(len(normal_index), dtype=object)
    vocabulary[:] = list(normal_index)
    return Column(codes=codes, vocabulary=vocabulary)


def encode(records: Sequence[PersonRecord]) -> dict[str, Column]:
    return {
        attribute: encode_column(list(map(attrgetter(attribute), records)))
        for attribute in ATTRIBUTES
    }


def date_parts(vocabulary: np.ndarray) -> np.ndarray:
    """(len(vocabulary), 3) int64 of year, month, day; -1 where a value is not a date."""
    parts = np.full((len(vocabulary), 3), -1, dtype=np.int64)
    for code, value in enumerate(vocabulary):
        found = _DATE.match(value)
        if found:
            parts[code] = [int(found.group(1)), int(found.group(2)), int(found.group(3))]
    return parts


_SOUNDEX = str.maketrans("bfpvcgjkqsxzdtlmnr", "111122222222334556")


def soundex(value: str) -> str:
    """American Soundex of the first word (blocking key robust to spelling variants)."""
    letters = "".join(ch for ch in value if "a" <= ch <= "z")
    if not letters:
        return ""
    digits = letters.translate(_SOUNDEX)
    out = [letters[0]]
    previous = digits[0]
    for letter, digit in zip(letters[1:], digits[1:], strict=True):
        if digit.isdigit() and digit != previous:
            out.append(digit)
            if len(out) == 4:
                break
        if letter not in "hw":
            previous = digit
    return "".join(out).ljust(4, "0")


def derive(column: Column, transform) -> Column:
    """A column whose values are transform(value) of another (computed on the vocabulary)."""
    index: dict[str, int] = {"": NULL_CODE}
    mapping = np.fromiter(
        (index.setdefault(transform(v) if v else "", len(index)) for v in column.vocabulary),
        dtype=np.int64,
        count=len(column.vocabulary),
    )
    vocabulary = np.empty(len(index), dtype=object)
    vocabulary[:] = list(index)
    return Column(codes=mapping[column.codes], vocabulary=vocabulary)
