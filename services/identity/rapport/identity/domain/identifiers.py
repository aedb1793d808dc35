"""A fixed set of identifier types without limits or blocked values (tests, tools).

Workspaces use IdentityRules (domain/rules.py); this policy is the rules'
plainest form: email and phone normalised, everything else trimmed,
priority in alphabetical order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from .model import Identifier
from .rules import MAX_VALUE_LENGTH, IdentifierTypeRule, IdentityRules, Normalization

__all__ = ["MAX_VALUE_LENGTH", "IdentifierPolicy"]

_NORMALIZATION = {"email": Normalization.EMAIL, "phone": Normalization.PHONE}


@dataclass(frozen=True)
class IdentifierPolicy:
    known_types: frozenset[str]
    default_phone_region: str = "US"

    @cached_property
    def rules(self) -> IdentityRules:
        return IdentityRules(
            identifier_types=tuple(
                IdentifierTypeRule(
                    type=type_,
                    normalization=_NORMALIZATION.get(type_, Normalization.TRIM),
                    default_phone_region=self.default_phone_region,
                )
                for type_ in sorted(self.known_types)
            )
        )

    def normalise(self, type_: str, value: str, *, field: str) -> Identifier:
        return self.rules.normalise(type_, value, field=field)

    def normalise_all(
        self, pairs: Iterable[tuple[str, str]], *, field: str
    ) -> tuple[Identifier, ...]:
        return self.rules.normalise_all(pairs, field=field)
