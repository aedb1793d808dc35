"""Which fields of a profile ListProfiles returns: its read_mask, checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapport.errors import InvalidArgument

# The fields a listed profile can hold (name and customer always come); groups,
# segments, life stage and computed traits cost reads per customer: BatchGetProfiles.
SUMMARY_FIELDS = ("event_count", "first_seen_time", "last_seen_time")
IDENTITY_FIELDS = ("name", "customer")
_TRAIT_PREFIX = "traits."


@dataclass(frozen=True)
class ProfileSelection:
    # Every trait held.
    all_traits: bool
    # The trait keys asked for one by one (when not all_traits).
    trait_keys: frozenset[str]
    # Which of SUMMARY_FIELDS.
    summary_fields: frozenset[str]

    @property
    def trait_keys_to_read(self) -> frozenset[str] | None:
        """The keys to read; None for all."""
        return None if self.all_traits else self.trait_keys

    def binding(self) -> str:
        """The selection, written the same whatever the order it was asked in (page
        tokens are bound to it)."""
        traits = "*" if self.all_traits else ",".join(sorted(self.trait_keys))
        return f"{traits};{','.join(sorted(self.summary_fields))}"


EVERYTHING = ProfileSelection(True, frozenset(), frozenset(SUMMARY_FIELDS))


def _trait_key(path: str, field: str) -> str:
    key = path.removeprefix(_TRAIT_PREFIX)
    # AIP-161: a key that is not a plain identifier comes between backticks.
    if len(key) >= 2 and key.startswith("`") and key.endswith("`"):
        key = key[1:-1]
    if not key:
        raise InvalidArgument(field, "names no trait key (`traits.<key>`)")
    if "\x00" in key:
        raise InvalidArgument(field, "must not contain NUL characters")
    return key


def parse_read_mask(paths: Sequence[str]) -> ProfileSelection:
    """The selection of a read_mask; every listable field when empty."""
    if not paths:
        return EVERYTHING
    all_traits = False
    keys: set[str] = set()
    summary: set[str] = set()
    for n, path in enumerate(paths):
        field = f"read_mask.paths[{n}]"
        if path == "traits":
            all_traits = True
        elif path.startswith(_TRAIT_PREFIX):
            keys.add(_trait_key(path, field))
        elif path in SUMMARY_FIELDS:
            summary.add(path)
        elif path not in IDENTITY_FIELDS:
            listable = ", ".join((*IDENTITY_FIELDS, "traits", "traits.<key>", *SUMMARY_FIELDS))
            raise InvalidArgument(field, f"unknown or unlisted path; listable: {listable}")
    return ProfileSelection(
        all_traits, frozenset() if all_traits else frozenset(keys), frozenset(summary)
    )
