"""Identity rules of a workspace: identifier types, normalisation, priority, limits, blocked values.

Mirrors the IdentityRules message. Pure: parsing from plain data (YAML defaults,
stored JSON) and validation live here; reading files and rows does not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import phonenumbers
from rapport.errors import InvalidArgument

from .blocked_patterns import (
    BlockedMatcher,
    PatternRefused,
    blocked_matcher,
    check_runnable,
    translate,
)
from .model import Identifier

MAX_VALUE_LENGTH = 512
MAX_IDENTIFIER_TYPES = 32
MAX_BLOCKED_PATTERNS = 64
MAX_PATTERN_LENGTH = 1000
# Stored as seconds in a float: up to ten years the round trip keeps every microsecond.
MAX_LIMIT_WINDOW = timedelta(days=3650)
# Probabilistic matching: pairs at or above the merge threshold are merged, pairs
# between the thresholds reviewed (0 in a request or in stored rules means these).
DEFAULT_MERGE_THRESHOLD = 0.99
DEFAULT_REVIEW_THRESHOLD = 0.8
TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

# Providers that ignore dots and "+tags" in the local part, and their canonical domain.
_SPACE = re.compile(r"\s")
_DOT_BLIND_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class Normalization(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"  # as sent by a client that forgot it: refused
    TRIM = "TRIM"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    LOWERCASE = "LOWERCASE"


@dataclass(frozen=True)
class IdentifierTypeRule:
    """How one identifier type is normalised, limited and blocked."""

    type: str
    normalization: Normalization
    fold_email_provider: bool = False
    default_phone_region: str = ""
    limit: int = 0  # per customer; 0: no limit
    limit_window: timedelta | None = None  # None: every link counts
    blocked_patterns: tuple[str, ...] = ()

    @cached_property
    def _blocked(self) -> BlockedMatcher:
        return blocked_matcher(self.blocked_patterns)

    @property
    def unusable_patterns(self) -> tuple[tuple[int, str], ...]:
        """(index, reason) of stored patterns RE2 cannot run: ignored when matching."""
        return self._blocked.unusable

    def is_blocked(self, value: str) -> bool:
        """True when the normalised value matches a blocked pattern in full (RE2: linear)."""
        return self._blocked.fullmatch(value)

    def normalise(self, value: str, *, field: str) -> str:
        """The normalised value, or InvalidArgument on ``field`` (never quoting the value)."""
        trimmed = value.strip()
        if not trimmed:
            raise InvalidArgument(field, "is required")
        if len(trimmed) > MAX_VALUE_LENGTH:
            raise InvalidArgument(field, f"longer than {MAX_VALUE_LENGTH} characters")
        if "\x00" in trimmed:
            raise InvalidArgument(field, "must not contain NUL characters")
        match self.normalization:
            case Normalization.EMAIL:
                return normalise_email(trimmed, field, fold=self.fold_email_provider)
            case Normalization.PHONE:
                return normalise_phone(trimmed, self.default_phone_region or "US", field)
            case Normalization.LOWERCASE:
                return trimmed.lower()
            case _:
                return trimmed


@dataclass(frozen=True)
class MatchingThresholds:
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD


@dataclass(frozen=True)
class IdentityRules:
    """The rules of one workspace; ``identifier_types`` highest priority first.

    ``update_time`` is None for the defaults (never stored).
    """

    identifier_types: tuple[IdentifierTypeRule, ...]
    matching: MatchingThresholds = field(default_factory=MatchingThresholds)
    update_time: datetime | None = None

    @cached_property
    def _by_type(self) -> dict[str, tuple[int, IdentifierTypeRule]]:
        return {rule.type: (index, rule) for index, rule in enumerate(self.identifier_types)}

    def rule(self, type_: str) -> IdentifierTypeRule | None:
        found = self._by_type.get(type_)
        return None if found is None else found[1]

    def priority(self, type_: str) -> int:
        """0 is the highest priority; unknown types rank last."""
        found = self._by_type.get(type_)
        return len(self.identifier_types) if found is None else found[0]

    def normalise(self, type_: str, value: str, *, field: str) -> Identifier:
        """The normalised identifier, or InvalidArgument on ``{field}.type`` / ``{field}.value``."""
        if not type_:
            raise InvalidArgument(f"{field}.type", "is required")
        rule = self.rule(type_)
        if rule is None:
            known = ", ".join(r.type for r in self.identifier_types)
            raise InvalidArgument(f"{field}.type", f"unknown identifier type; known: {known}")
        return Identifier(type_, rule.normalise(value, field=f"{field}.value"))

    def normalise_all(
        self, pairs: Iterable[tuple[str, str]], *, field: str
    ) -> tuple[Identifier, ...]:
        """Normalise ``field[i]`` for every pair; duplicates collapse, first occurrence wins."""
        normalised: dict[Identifier, None] = {}
        for index, (type_, value) in enumerate(pairs):
            normalised[self.normalise(type_, value, field=f"{field}[{index}]")] = None
        if not normalised:
            raise InvalidArgument(field, "at least one identifier is required")
        return tuple(normalised)

    def is_blocked(self, identifier: Identifier) -> bool:
        rule = self.rule(identifier.type)
        return rule is not None and rule.is_blocked(identifier.value)

    def limit(self, type_: str) -> tuple[int, timedelta | None]:
        rule = self.rule(type_)
        return (0, None) if rule is None else (rule.limit, rule.limit_window)

    @cached_property
    def limited_types(self) -> tuple[IdentifierTypeRule, ...]:
        return tuple(rule for rule in self.identifier_types if rule.limit > 0)


def erased_digest(identifier: Identifier) -> str:
    """The one-way digest kept for an erased, blocked identifier."""
    return hashlib.sha256(f"{identifier.type}:{identifier.value}".encode()).hexdigest()


# --- normalisation ------------------------------------------------------------


def normalise_email(value: str, field: str, *, fold: bool = False) -> str:
    lowered = value.lower()
    local, at, domain = lowered.partition("@")
    if not at or not local or not domain or "@" in domain or _SPACE.search(lowered):
        raise InvalidArgument(field, "must be an email address like local@domain")
    if fold:
        local, domain = fold_email_provider(local, domain)
        if not local:
            raise InvalidArgument(field, "must be an email address like local@domain")
    return f"{local}@{domain}"


def fold_email_provider(local: str, domain: str) -> tuple[str, str]:
    """Provider-specific variants of one mailbox folded together.

    Every provider: ``+tag`` suffixes dropped. Gmail also ignores dots, and
    googlemail.com is gmail.com.
    """
    local = local.split("+", 1)[0]
    if domain in _DOT_BLIND_DOMAINS:
        return local.replace(".", ""), _DOT_BLIND_DOMAINS[domain]
    return local, domain


def normalise_phone(value: str, region: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidArgument(field, "is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument(field, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- validation ---------------------------------------------------------------


def validate_rules(
    rules: IdentityRules, *, prefix: str = "identity_rules", check_patterns: bool = True
) -> IdentityRules:
    """The rules with defaults filled in (thresholds), or InvalidArgument naming the field.

    ``check_patterns=False`` for rules already stored: a pattern RE2 cannot run is then
    kept (and ignored when matching, see ``unusable_patterns``) rather than failing every
    Resolve of the workspace.
    """
    types_field = f"{prefix}.identifier_types"
    if not rules.identifier_types:
        raise InvalidArgument(types_field, "at least one identifier type is required")
    if len(rules.identifier_types) > MAX_IDENTIFIER_TYPES:
        raise InvalidArgument(types_field, f"at most {MAX_IDENTIFIER_TYPES} identifier types")
    seen: set[str] = set()
    for index, rule in enumerate(rules.identifier_types):
        _validate_type_rule(rule, f"{types_field}[{index}]", seen, check_patterns)
    if check_patterns:
        _check_patterns_run_in_re2(rules, types_field)
    return replace(rules, matching=validate_thresholds(rules.matching, f"{prefix}.matching"))


def _validate_type_rule(
    rule: IdentifierTypeRule, field: str, seen: set[str], check_patterns: bool
) -> None:
    if not TYPE_NAME.fullmatch(rule.type):
        raise InvalidArgument(
            f"{field}.type", "must be 1-64 lower-case letters, digits or _, starting with a letter"
        )
    if rule.type in seen:
        raise InvalidArgument(f"{field}.type", "duplicate identifier type")
    seen.add(rule.type)
    if rule.normalization is Normalization.UNSPECIFIED:
        raise InvalidArgument(f"{field}.normalization", "is required")
    if rule.default_phone_region and (
        rule.default_phone_region not in phonenumbers.SUPPORTED_REGIONS
    ):
        raise InvalidArgument(
            f"{field}.default_phone_region", "is not a region code like GB (ISO 3166 alpha-2)"
        )
    if rule.limit < 0:
        raise InvalidArgument(f"{field}.limit", "must not be negative")
    if rule.limit_window is not None and rule.limit_window < timedelta(0):
        raise InvalidArgument(f"{field}.limit_window", "must not be negative")
    if rule.limit_window is not None and rule.limit_window > MAX_LIMIT_WINDOW:
        raise InvalidArgument(
            f"{field}.limit_window", f"must be at most {MAX_LIMIT_WINDOW.days} days"
        )
    if len(rule.blocked_patterns) > MAX_BLOCKED_PATTERNS:
        raise InvalidArgument(
            f"{field}.blocked_patterns", f"at most {MAX_BLOCKED_PATTERNS} patterns"
        )
    for index, pattern in enumerate(rule.blocked_patterns):
        pattern_field = f"{field}.blocked_patterns[{index}]"
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidArgument(pattern_field, f"longer than {MAX_PATTERN_LENGTH} characters")
        if check_patterns:
            try:
                translate(pattern)
            except PatternRefused as refused:
                raise InvalidArgument(pattern_field, f"cannot be used: {refused}") from None


def _check_patterns_run_in_re2(rules: IdentityRules, types_field: str) -> None:
    check_runnable(
        [
            (f"{types_field}[{type_index}].blocked_patterns[{index}]", pattern)
            for type_index, rule in enumerate(rules.identifier_types)
            for index, pattern in enumerate(rule.blocked_patterns)
        ]
    )


class InvalidThresholds(ValueError):
    """Thresholds out of order or out of [0, 1]; ``field`` names the offending one."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


def checked_thresholds(
    merge: float, review: float, *, default_merge: float, default_review: float
) -> tuple[float, float]:
    """(merge, review) with 0 replaced by the defaults; InvalidThresholds unless
    0 <= review <= merge <= 1 (NaN is refused too)."""
    for name, value in (("merge_threshold", merge), ("review_threshold", review)):
        if not 0.0 <= value <= 1.0:
            raise InvalidThresholds(name, "must be between 0 and 1")
    merge, review = merge or default_merge, review or default_review
    if review > merge:
        raise InvalidThresholds("review_threshold", "must not be above the merge threshold")
    return merge, review


def validate_thresholds(thresholds: MatchingThresholds, field: str) -> MatchingThresholds:
    """0 means the default; otherwise 0 <= review <= merge <= 1."""
    try:
        merge, review = checked_thresholds(
            thresholds.merge_threshold,
            thresholds.review_threshold,
            default_merge=DEFAULT_MERGE_THRESHOLD,
            default_review=DEFAULT_REVIEW_THRESHOLD,
        )
    except InvalidThresholds as exc:
        raise InvalidArgument(f"{field}.{exc.field}", exc.description) from exc
    return MatchingThresholds(merge_threshold=merge, review_threshold=review)


# --- plain data (YAML defaults, stored JSON) -----------------------------------


def rules_to_data(rules: IdentityRules) -> dict[str, Any]:
    """JSON-safe form, as stored and as in the YAML defaults file."""
    return {
        "identifier_types": [
            {
                "type": rule.type,
                "normalization": str(rule.normalization),
                "fold_email_provider": rule.fold_email_provider,
                "default_phone_region": rule.default_phone_region,
                "limit": rule.limit,
                "limit_window_seconds": (
                    None if rule.limit_window is None else rule.limit_window.total_seconds()
                ),
                "blocked_patterns": list(rule.blocked_patterns),
            }
            for rule in rules.identifier_types
        ],
        "matching": {
            "merge_threshold": rules.matching.merge_threshold,
            "review_threshold": rules.matching.review_threshold,
        },
    }


def rules_from_data(data: Mapping[str, Any], *, default_phone_region: str = "US") -> IdentityRules:
    """Rules from their plain form; phone rules without a region get ``default_phone_region``.

    Raises ValueError (or KeyError/TypeError) on malformed data: a defaults
    file or stored row that does not parse is a deployment bug, not a client error.
    """
    types: list[IdentifierTypeRule] = []
    for item in data["identifier_types"]:
        normalization = Normalization(str(item["normalization"]).upper())
        region = str(item.get("default_phone_region") or "")
        if normalization is Normalization.PHONE and not region:
            region = default_phone_region
        window = _stored_window(item.get("limit_window_seconds"))
        types.append(
            IdentifierTypeRule(
                type=str(item["type"]),
                normalization=normalization,
                fold_email_provider=bool(item.get("fold_email_provider", False)),
                default_phone_region=region,
                limit=int(item.get("limit", 0)),
                limit_window=window,
                blocked_patterns=tuple(str(p) for p in item.get("blocked_patterns") or ()),
            )
        )
    matching = data.get("matching") or {}
    rules = IdentityRules(
        identifier_types=tuple(types),
        matching=MatchingThresholds(
            merge_threshold=float(matching.get("merge_threshold", 0.0)),
            review_threshold=float(matching.get("review_threshold", 0.0)),
        ),
    )
    try:
        return validate_rules(rules, check_patterns=False)
    except InvalidArgument as exc:
        raise ValueError(f"invalid identity rules: {exc.field}: {exc.description}") from exc


def _stored_window(seconds: Any) -> timedelta | None:
    """A stored limit window; longer ones (stored before MAX_LIMIT_WINDOW) are capped."""
    if not seconds:
        return None
    value = float(seconds)
    if value > MAX_LIMIT_WINDOW.total_seconds():
        return MAX_LIMIT_WINDOW
    return timedelta(seconds=value)
