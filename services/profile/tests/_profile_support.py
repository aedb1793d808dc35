"""Helpers of the profile service tests: an in-memory identity client for the service layer."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Sequence

from rapport.profile.adapters.identity_client import (
    IdentityClient,
    IdentityRefused,
    IdentityUnavailable,
    Observation,
    Resolution,
)
from rapport.profile.domain.model import Identifier

_PHONE = re.compile(r"\+?[0-9][0-9 ().-]{6,}")
_KNOWN_TYPES = frozenset({"user_id", "email", "phone", "anonymous_id", "device_id"})


class InMemoryIdentityClient(IdentityClient):
    """A fake identity graph for service-layer tests: union of identifiers seen together.

    Emails are lower-cased; phones must look like phone numbers; unknown types
    are refused. The oldest customer of an observation survives a merge.
    """

    def __init__(self, *, extra_types: Sequence[str] = ()) -> None:
        self._owner: dict[tuple[str, str, str], str] = {}
        self._merged_into: dict[str, str] = {}
        self._created: dict[str, int] = {}
        self._counter = itertools.count()
        self._types = _KNOWN_TYPES | set(extra_types)
        self.unavailable = False
        self.calls = 0

    async def batch_resolve(
        self, workspace: str, observations: Sequence[Observation]
    ) -> list[Resolution]:
        self.calls += 1
        if self.unavailable:
            raise IdentityUnavailable("UNAVAILABLE")
        for k, observation in enumerate(observations):
            for j, identifier in enumerate(observation.identifiers):
                if identifier.type not in self._types:
                    raise IdentityRefused("unknown identifier type", k, j, ".type")
                if identifier.type == "phone" and not _PHONE.fullmatch(identifier.value.strip()):
                    raise IdentityRefused("not a phone number", k, j, ".value")
        return [self._resolve(workspace, observation) for observation in observations]

    def _resolve(self, workspace: str, observation: Observation) -> Resolution:
        keys = [(workspace, i.type, _normalise(i)) for i in observation.identifiers]
        customers: list[str] = []
        for key in keys:
            owner = self._owner.get(key)
            if owner is not None and (root := self._root(owner)) not in customers:
                customers.append(root)
        if not customers:
            survivor = uuid.uuid4().hex
            self._created[survivor] = next(self._counter)
        else:
            survivor = min(customers, key=self._created.__getitem__)
        merged = tuple(c for c in customers if c != survivor)
        for customer in merged:
            self._merged_into[customer] = survivor
        for key in keys:
            self._owner[key] = survivor
        return Resolution(survivor, merged)

    def _root(self, customer: str) -> str:
        while customer in self._merged_into:
            customer = self._merged_into[customer]
        return customer


def _normalise(identifier: Identifier) -> str:
    value = identifier.value.strip()
    return value.lower() if identifier.type == "email" else value
