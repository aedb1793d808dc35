"""Traits carrying an identifier identity refused to link to the event's customer.

An event's ``traits.email`` and ``traits.phone`` are identifiers too (see
``extract_identifiers``). When identity leaves one unlinked (it belongs to another
customer the rules keep apart, it is blocked, a per-customer limit is reached), the
value is not this customer's: made a trait, it would make the customer reachable at
somebody else's phone or mailbox (delivery reads reachability from traits). Such a
trait is withheld from that event alone: not written to the profile (the customer keeps
the value it had), not kept in the stored event, so that computed traits, segments,
exports and rebuilds after an unmerge see what the profile saw. The rest of the event
is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .model import EventType, IncomingEvent

# Trait keys whose value is an identifier of the same type.
IDENTIFIER_TRAITS = ("email", "phone")

IDENTIFIER_REFUSED = "IDENTIFIER_REFUSED"


class RefusedIdentifier(Protocol):
    """An identifier identity left unlinked, its value as identity normalised it."""

    @property
    def type(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def description(self) -> str: ...


@dataclass(frozen=True)
class WithheldTrait:
    """A trait of an accepted event that was not stored, and why."""

    # The request path of the trait, e.g. ``events[2].traits.phone``.
    field: str
    reason: str
    # The identifier type the trait carried, and identity's reason for refusing it.
    identifier_type: str
    identity_reason: str
    description: str


def withhold_refused_traits(
    event: IncomingEvent, refused: Sequence[RefusedIdentifier], path: str
) -> tuple[IncomingEvent, tuple[WithheldTrait, ...]]:
    """The event without the traits carrying an identifier in ``refused``, and those
    traits; the event itself when none does.

    Identity answers with values as it normalised them (E.164 phones, folded emails),
    which profile cannot always redo. A trait is withheld when a refused identifier of
    its type matches its value loosely, or when one matches none of the event's values
    of that type: then it may be any of them, and a phone or email that may be somebody
    else's is not made this customer's.
    """
    traits = event.traits
    # A group event's traits are the group's, not identifiers (as extract_identifiers).
    if not refused or not traits or event.type is EventType.GROUP:
        return event, ()
    withheld: dict[str, WithheldTrait] = {}
    for key in IDENTIFIER_TRAITS:
        value = traits.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        found = _refusal_of(key, value, event, refused)
        if found is not None:
            withheld[key] = _withheld(f"{path}.traits.{key}", key, found)
    if not withheld:
        return event, ()
    kept: dict[str, Any] = {k: v for k, v in traits.items() if k not in withheld}
    return replace(event, traits=kept), tuple(withheld.values())


def _refusal_of(
    key: str, value: str, event: IncomingEvent, refused: Sequence[RefusedIdentifier]
) -> RefusedIdentifier | None:
    of_type = [r for r in refused if r.type == key]
    if not of_type:
        return None
    mine = _loose(key, value)
    for candidate in of_type:
        if _loose(key, candidate.value) == mine:
            return candidate
    # Values of this type the event carried besides the trait (explicit identifiers).
    others = {_loose(key, i.value) for i in event.identifiers if i.type == key}
    for candidate in of_type:
        if _loose(key, candidate.value) not in others:
            return candidate
    return None


def _loose(identifier_type: str, value: str) -> str:
    """A value as identity would likely normalise it (case; a phone's punctuation)."""
    folded = value.strip().casefold()
    if identifier_type == "phone":
        return "".join(ch for ch in folded if ch.isdigit() or ch == "+")
    return folded


def _withheld(field: str, key: str, refused: RefusedIdentifier) -> WithheldTrait:
    why = refused.description or "identity left it unlinked"
    return WithheldTrait(
        field=field,
        reason=IDENTIFIER_REFUSED,
        identifier_type=key,
        identity_reason=refused.reason,
        description=(
            f"not stored: identity did not link this {key} to the event's customer ({why}); "
            "the customer keeps the value it had"
        ),
    )
