"""Identity resolution of a batch: one BatchResolve for the new events, and a refused
event rejected alone (the call is made again without it)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapport.errors import FailedPrecondition, InvalidArgument, Unavailable
from rapport.profile.adapters.identity_client import (
    IdentityBadAnswer,
    IdentityRefused,
    IdentityUnavailable,
    Observation,
    Resolution,
)
from rapport.profile.domain.ingestion import SourcedIdentifier, is_previous_id, previous_id_as
from rapport.profile.domain.model import (
    EventType,
    Identifier,
    IncomingEvent,
    Rejection,
    RejectionReason,
)

from .dependencies import Dependencies


@dataclass
class Resolved:
    # Event index -> identity's answer for its identifiers.
    resolutions: dict[int, Resolution] = field(default_factory=dict)
    # Event index -> why identity refused it.
    refused: dict[int, Rejection] = field(default_factory=dict)


async def resolve_events(
    workspace: str,
    indexes: Sequence[int],
    identifiers: Mapping[int, Sequence[SourcedIdentifier]],
    times: Mapping[int, datetime],
    deps: Dependencies,
    *,
    use_cache: bool = True,
) -> Resolved:
    """Resolve the events at ``indexes`` (in that order). Events that carry the same
    identifiers are one observation: a customer's many events cost identity one.
    Without ``use_cache``, identity answers every event (its cached answers are not read).

    Identity refuses a whole call for one bad identifier; the event it names is
    rejected and the call made again without it (each refusal costs one call).
    A refusal that names no event refuses the request (InvalidArgument "events").
    """
    resolved = Resolved()
    cache = deps.identity_cache
    generation = cache.generation(workspace)
    # Events with the same identifiers share one lookup and one observation.
    keys = {i: tuple(s.identifier for s in identifiers[i]) for i in indexes}
    pending = []
    for i in indexes:
        customer_id = cache.get(workspace, keys[i]) if use_cache else None
        if customer_id is None:
            pending.append(i)
        else:
            resolved.resolutions[i] = Resolution(customer_id, settled=True, cached=True)
    # An alias (it carries a previous_id) is all or nothing: never one observation with
    # another event of the same identifiers, which links what it can.
    aliases = {i for i in indexes if any(is_previous_id(s) for s in identifiers[i])}
    while pending:
        groups: dict[tuple[tuple[Identifier, ...], bool], list[int]] = {}
        for i in pending:
            groups.setdefault((keys[i], i in aliases), []).append(i)
        members = list(groups.values())
        observations = [
            Observation(list(key), max(times[i] for i in group), link_all_or_nothing=alias)
            for (key, alias), group in zip(groups, members, strict=True)
        ]
        try:
            answers = await deps.identity.batch_resolve(workspace, observations)
        except IdentityRefused as err:
            k = err.request_index
            if k is None or not 0 <= k < len(members):
                raise InvalidArgument("events", err.description) from None
            for i in members[k]:
                resolved.refused[i] = _refusal(err, i, identifiers[i])
            pending = [i for i in pending if i not in resolved.refused]
            continue
        except IdentityUnavailable as err:
            raise _unavailable(err) from None
        except IdentityBadAnswer as err:
            raise _bad_answer(err) from None
        for group, answer in zip(members, answers, strict=True):
            for i in group:
                if not answer.customer_id:
                    resolved.refused[i] = _alias_not_merged(
                        answer, identifiers[i]
                    ) or _all_unlinked(answer, i, identifiers[i])
                elif (refusal := _alias_not_merged(answer, identifiers[i])) is not None:
                    resolved.refused[i] = refusal
                else:
                    resolved.resolutions[i] = answer
        if any(answer.merged_customer_ids for answer in answers):
            cache.invalidate(workspace)
        else:
            cache.put_many(
                workspace,
                generation,
                (
                    (key, answer.customer_id)
                    for (key, _), answer in zip(groups, answers, strict=True)
                    if answer.settled
                ),
            )
        break
    return resolved


async def settle_previous_ids(
    workspace: str,
    indexes: Sequence[int],
    events: Mapping[int, IncomingEvent],
    identifiers: MutableMapping[int, list[SourcedIdentifier]],
    deps: Dependencies,
) -> None:
    """The previous_id of each alias at ``indexes`` as the id it is: a user_id when an
    earlier event of the batch carries it as one or identity has it linked as one (asked
    without creating anything), an anonymous_id otherwise (``identifiers`` updated).

    Segment's previousId is "an anonymousId or a previous userId": taken always as an
    anonymous id, an alias from a previous user id linked a new anonymous id to the new
    user id and merged nothing.
    """
    aliases = [i for i in indexes if events[i].type is EventType.ALIAS]
    if not aliases:
        return
    batch_user_ids: dict[str, int] = {}
    for j in sorted(events):
        for sourced in identifiers.get(j, ()):
            if sourced.identifier.type == "user_id" and not is_previous_id(sourced):
                batch_user_ids.setdefault(sourced.identifier.value, j)
    asked = sorted(
        {
            events[i].previous_id
            for i in aliases
            if batch_user_ids.get(events[i].previous_id, i) >= i
        }
    )
    try:
        found = await asyncio.gather(
            *(deps.identity.lookup_customer(workspace, Identifier("user_id", p)) for p in asked)
        )
    except IdentityUnavailable as err:
        raise _unavailable(err) from None
    except IdentityBadAnswer as err:
        raise _bad_answer(err) from None
    known = {p for p, customer_id in zip(asked, found, strict=True) if customer_id}
    for i in aliases:
        previous = events[i].previous_id
        if previous in known or batch_user_ids.get(previous, i) < i:
            identifiers[i] = previous_id_as(identifiers[i], "user_id")


def _unavailable(err: IdentityUnavailable) -> Unavailable:
    return Unavailable(
        "IDENTITY_UNAVAILABLE",
        f"the identity service could not resolve the events ({err.code}); retry later",
    )


def _bad_answer(err: IdentityBadAnswer) -> FailedPrecondition:
    # Identity answered, with something profile cannot use: retrying will not help.
    return FailedPrecondition(
        "IDENTITY_BAD_RESPONSE",
        f"the identity service gave an answer profile cannot use ({err.problem})",
    )


def _alias_not_merged(answer: Resolution, sourced: Sequence[SourcedIdentifier]) -> Rejection | None:
    """An alias merges the customer of its previous_id with the customer of its current
    id (user_id...). When identity left either unlinked (the workspace's rules allow one
    user_id per customer, the customers are kept apart, the value is blocked), nothing
    was merged: the alias is rejected, named by the identifier left out, rather than
    stored on a customer that holds one of the two ids only."""
    if not answer.unlinked:
        return None
    previous = next((s for s in sourced if is_previous_id(s)), None)
    current = next((s for s in sourced if not is_previous_id(s)), None)
    for side in (previous, current):
        if side is None:
            continue
        value = side.identifier.value.strip().casefold()
        for left_out in answer.unlinked:
            if left_out.type == side.identifier.type and left_out.value.casefold() == value:
                why = left_out.description or "identity left it unlinked"
                if left_out.reason:
                    why = f"{why} ({left_out.reason})"
                return Rejection(
                    side.field,
                    RejectionReason.IDENTIFIER_REFUSED,
                    "the alias merged nothing: identity did not link this id to the "
                    f"customer of the other: {why}",
                )
    return None


def _all_unlinked(
    answer: Resolution, index: int, sourced: Sequence[SourcedIdentifier]
) -> Rejection:
    """The event's rejection when identity linked none of its identifiers (all blocked,
    say): named by the first identifier identity gave a reason for."""
    first = answer.unlinked[0]
    same_type = [s for s in sourced if s.identifier.type == first.type]
    exact = [s for s in same_type if s.identifier.value == first.value]
    named = (exact or same_type or [None])[0]
    field_path = named.field if named is not None else f"events[{index}]"
    description = first.description or "identity left every identifier unlinked"
    if first.reason:
        description = f"{description} ({first.reason})"
    return Rejection(field_path, RejectionReason.IDENTIFIER_REFUSED, description)


def _refusal(err: IdentityRefused, index: int, sourced: Sequence[SourcedIdentifier]) -> Rejection:
    j = err.identifier_index
    if j is None or not 0 <= j < len(sourced):
        field_path = f"events[{index}]"
    else:
        source = sourced[j]
        # Only explicit identifiers have sub-fields; the others are plain strings.
        suffix = err.subfield if source.structured and err.subfield.startswith(".") else ""
        field_path = source.field + suffix
    return Rejection(field_path, RejectionReason.IDENTIFIER_REFUSED, err.description)
