"""Identity resolution of a batch: one BatchResolve for the new events, and a refused
event rejected alone (the call is made again without it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from rapport.profile.domain.ingestion import SourcedIdentifier
from rapport.profile.domain.model import Identifier, Rejection, RejectionReason

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
    while pending:
        groups: dict[tuple[Identifier, ...], list[int]] = {}
        for i in pending:
            groups.setdefault(keys[i], []).append(i)
        members = list(groups.values())
        observations = [
            Observation(list(key), max(times[i] for i in group))
            for key, group in zip(groups, members, strict=True)
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
            raise Unavailable(
                "IDENTITY_UNAVAILABLE",
                f"the identity service could not resolve the events ({err.code}); retry later",
            ) from None
        except IdentityBadAnswer as err:
            # Identity answered, with something profile cannot use: retrying will not help.
            raise FailedPrecondition(
                "IDENTITY_BAD_RESPONSE",
                f"the identity service gave an answer profile cannot use ({err.problem})",
            ) from None
        for group, answer in zip(members, answers, strict=True):
            for i in group:
                if answer.customer_id:
                    resolved.resolutions[i] = answer
                else:
                    resolved.refused[i] = _all_unlinked(answer, i, identifiers[i])
        if any(answer.merged_customer_ids for answer in answers):
            cache.invalidate(workspace)
        else:
            cache.put_many(
                workspace,
                generation,
                (
                    (key, answer.customer_id)
                    for key, answer in zip(groups, answers, strict=True)
                    if answer.settled
                ),
            )
        break
    return resolved


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
