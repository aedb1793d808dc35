"""Blocking: only records sharing a key under at least one rule are ever compared."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .records import NULL_CODE, Column, derive, soundex

# Each rule is a conjunction of keys; a record with any key missing is not blocked by the rule.
# Key names are attributes, or derived keys computed by `blocking_keys`.
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("family_name_soundex", "birth_date"),
    ("given_name", "birth_date"),
    ("given_name", "family_name", "birth_year"),
    ("postal_code", "street_number", "family_name_initial"),
    ("address_line1", "street_number", "locality"),
    ("postal_code", "address_line1"),
    ("birth_date", "postal_code"),
    ("birth_date", "street_number"),
    ("birth_date", "locality"),
)
# Looser rules, applied only to blocks of at most loose_block_limit(n) records: they find the
# duplicates the strict rules miss, and stay cheap in large data, where their big blocks are
# common values the strict rules already cover.
LOOSE_RULES: tuple[tuple[str, ...], ...] = (
    ("family_name_soundex", "birth_year"),
    ("given_name", "family_name"),
    ("postal_code", "family_name_initial"),
    ("birth_date",),
)
LOOSE_PAIR_BUDGET = 2_000_000  # per loose rule, at worst n * limit / 2 pairs


def loose_block_limit(n_records: int) -> int:
    return max(20, LOOSE_PAIR_BUDGET // max(n_records, 1))


def rules_for(n_records: int) -> list[tuple[tuple[str, ...], int | None]]:
    limit = loose_block_limit(n_records)
    return [(rule, None) for rule in BLOCKING_RULES] + [(rule, limit) for rule in LOOSE_RULES]


# The attribute each derived key comes from (a rule on it says nothing new about that attribute).
KEY_ATTRIBUTE = {
    "family_name_soundex": "family_name",
    "family_name_initial": "family_name",
    "birth_year": "birth_date",
}


def blocking_keys(columns: Mapping[str, Column]) -> dict[str, Column]:
    keys = dict(columns)
    keys["family_name_soundex"] = derive(columns["family_name"], soundex)
    keys["family_name_initial"] = derive(columns["family_name"], lambda v: v[:1])
    keys["birth_year"] = derive(columns["birth_date"], lambda v: v[:4])
    return keys


def rule_key(keys: Mapping[str, Column], rule: tuple[str, ...]) -> np.ndarray:
    """One int64 key per record for the rule; -1 where a component is missing."""
    combined = keys[rule[0]].codes
    span = len(keys[rule[0]].vocabulary)
    missing = combined == NULL_CODE
    for name in rule[1:]:
        codes = keys[name].codes
        missing |= codes == NULL_CODE
        size = len(keys[name].vocabulary)
        if span * size >= 2**62:  # re-factorise first so the mixed key never overflows int64
            distinct, combined = np.unique(combined, return_inverse=True)
            span = len(distinct)
        combined = combined * np.int64(size) + codes
        span *= size
    return np.where(missing, np.int64(-1), combined)


def pairs_within_blocks(key: np.ndarray, max_block: int | None = None) -> np.ndarray:
    """All (i, j), i < j, of records with the same key (>= 0), as an (k, 2) int64 array.

    Blocks of more than max_block records (when given) are left out.
    """
    valid = np.flatnonzero(key >= 0)
    if len(valid) < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = valid[np.argsort(key[valid], kind="stable")]
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(order)]
    if max_block is not None:
        small = (ends - starts) <= max_block
        keep = np.repeat(small, ends - starts)
        order, sizes = order[keep], (ends - starts)[small]
        ends = np.cumsum(sizes)
        starts = ends - sizes
        if len(order) < 2:
            return np.empty((0, 2), dtype=np.int64)
    block_end = np.repeat(ends, ends - starts)
    position = np.arange(len(order))
    later = block_end - position - 1  # partners after each position in its block
    total = int(later.sum())
    if total == 0:
        return np.empty((0, 2), dtype=np.int64)
    left = np.repeat(position, later)
    first_of_run = np.repeat(np.cumsum(later) - later, later)
    right = left + 1 + (np.arange(total) - first_of_run)
    a, b = order[left], order[right]
    return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)


def candidate_pairs(keys: Mapping[str, Column], n_records: int) -> np.ndarray:
    """The union over rules of blocked pairs, deduplicated and sorted, i < j."""
    if n_records < 2:
        return np.empty((0, 2), dtype=np.int64)
    packed = []
    for rule, limit in rules_for(n_records):
        pairs = pairs_within_blocks(rule_key(keys, rule), limit)
        packed.append(pairs[:, 0] * np.int64(n_records) + pairs[:, 1])
    unique = np.sort(np.concatenate(packed))  # sort-based: numpy's hash unique is slower here
    if len(unique):
        unique = unique[np.r_[True, unique[1:] != unique[:-1]]]
    return np.stack([unique // n_records, unique % n_records], axis=1)


def sharing_a_block(keys: Mapping[str, Column], probe: int) -> np.ndarray:
    """Indices of records (other than `probe`) sharing at least one rule's key with it."""
    n = len(keys["given_name"].codes)
    hit = np.zeros(n, dtype=bool)
    for rule, limit in rules_for(n):
        key = rule_key(keys, rule)
        if key[probe] >= 0:
            same = key == key[probe]
            if limit is None or same.sum() <= limit:
                hit |= same
    hit[probe] = False
    return np.flatnonzero(hit)
