"""Helpers of the profile service tests: an in-memory identity client and a response
encoder for the service layer; error expectations for the gRPC tests."""

from __future__ import annotations

import asyncio
import itertools
import pickle
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from rapport.grpctesting import expect_error, first_responses
from rapport.profile.adapters.identity_changes import CustomerIdentity, IdentityChange
from rapport.profile.adapters.identity_client import (
    IdentityClient,
    IdentityRefused,
    IdentityUnavailable,
    Observation,
    Resolution,
    UnlinkedIdentifier,
)
from rapport.profile.adapters.profile_cache import EncodedProfile
from rapport.profile.adapters.tables import signals
from rapport.profile.domain.model import (
    EventType,
    Identifier,
    IncomingEvent,
    ProfileView,
    SignalKind,
    StoredEvent,
    WatchedSignal,
)
from rapport.profile.domain.signals import event_seen_payload
from rapport.profile.v1 import profile_service_pb2 as pb
from rapport.sqlstore import create_engine
from sqlalchemy import Text, insert, type_coerce

DOMAIN = "profile.rapport.dev"
WORKSPACE = "workspaces/default"


class OneChange:
    """Identity's WatchChanges and GetCustomer for the follower: one change, then quiet;
    ``customers``: what GetCustomer answers (an unmerge reads the customers it splits)."""

    def __init__(
        self, change: IdentityChange, customers: Mapping[str, CustomerIdentity] | None = None
    ) -> None:
        self._change = change
        self._customers = customers or {}

    async def watch(self, workspace: str, start_cursor: str) -> AsyncIterator[IdentityChange]:
        if start_cursor < self._change.cursor:
            yield self._change
        await asyncio.Event().wait()

    async def customer(self, workspace: str, customer_id: str) -> CustomerIdentity | None:
        return self._customers.get(customer_id)


async def merge_into(stub: Any, make_event: Any, user_id: str, anonymous_id: str) -> str:
    """Ingest one event carrying both ids, which merges the anonymous customer into the
    user's (the older); the survivor's name."""
    event = make_event(
        f"merge-{user_id}-{anonymous_id}", user_id=user_id, anonymous_id=anonymous_id
    )
    answer = await stub.IngestEvents(pb.IngestEventsRequest(parent=WORKSPACE, events=[event]))
    [result] = answer.results
    assert result.status == pb.INGEST_STATUS_ACCEPTED, result
    return result.customer


async def watch(stub: Any, count: int, **request: Any) -> list[pb.WatchSignalsResponse]:
    """The first ``count`` WatchSignals responses (of workspace default unless ``parent``)."""
    request.setdefault("parent", WORKSPACE)
    call = stub.WatchSignals(pb.WatchSignalsRequest(**request))
    return await first_responses(call, count)


async def expect_invalid(call: Awaitable[Any], field: str) -> str:
    """INVALID_ARGUMENT naming exactly ``field``; the violation's description."""
    _, bad_request = await expect_error(
        call, grpc.StatusCode.INVALID_ARGUMENT, domain=DOMAIN, field=field
    )
    assert bad_request is not None
    return bad_request.field_violations[0].description


def expect_rejected(
    response: pb.IngestEventsResponse, index: int, field: str, reason: str = "INVALID_FIELD"
) -> str:
    """The event at ``index`` was rejected for ``field``, and attributed to nobody; the
    rejection's description."""
    result = response.results[index]
    assert result.status == pb.INGEST_STATUS_REJECTED, result
    assert (result.rejection.field, result.rejection.reason) == (field, reason)
    assert result.rejection.description
    assert not result.customer and not result.event
    return result.rejection.description


class DomainEncoder:
    """A ResponseEncoder for service-layer tests: results stay domain objects.

    Sizes are those of their text, enough for tests of byte budgets.
    """

    def event(self, event: StoredEvent) -> StoredEvent:
        return event

    def profile(self, view: ProfileView) -> bytes:
        # Bytes, as the GetProfile cache keeps them: decoded_view() reads them back.
        return pickle.dumps(view)

    def event_entry_size(self, encoded: Any) -> int:
        return self.size(encoded)

    def watch_response(self, watched: WatchedSignal) -> WatchedSignal:
        return watched

    def size(self, encoded: Any) -> int:
        return len(repr(encoded).encode())


def decoded_view(encoded: EncodedProfile) -> ProfileView:
    """The view a DomainEncoder encoded into ``encoded``."""
    view = pickle.loads(encoded[0])  # noqa: S301 - bytes this test process made
    assert isinstance(view, ProfileView)
    return view


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
        # Answers that merged nothing are settled (profile's identity cache keeps them).
        self.settles = False
        self._blocked: set[tuple[str, str, str]] = set()

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

    async def lookup_customer(self, workspace: str, identifier: Identifier) -> str | None:
        if self.unavailable:
            raise IdentityUnavailable("UNAVAILABLE")
        owner = self._owner.get((workspace, identifier.type, _normalise(identifier)))
        return None if owner is None else self._root(owner)

    def _resolve(self, workspace: str, observation: Observation) -> Resolution:
        keys = [(workspace, i.type, _normalise(i)) for i in observation.identifiers]
        unlinked = tuple(
            UnlinkedIdentifier(t, v, "BLOCKED", "blocked")
            for _, t, v in (k for k in keys if k in self._blocked)
        )
        keys = [k for k in keys if k not in self._blocked]
        if not keys:
            return Resolution("", unlinked=unlinked)
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
        settled = self.settles and not merged and not unlinked
        return Resolution(survivor, merged, settled=settled, unlinked=unlinked)

    def erase(self, customer_id: str, *, block: bool = False) -> None:
        """Identity's EraseCustomer: the customer's identifiers go (seen again, they
        make a new customer, or, with ``block``, are left unlinked); the customer is
        never answered again."""
        erased = {k for k, c in self._owner.items() if self._root(c) == customer_id}
        self._owner = {k: c for k, c in self._owner.items() if k not in erased}
        if block:
            self._blocked |= erased

    def _root(self, customer: str) -> str:
        while customer in self._merged_into:
            customer = self._merged_into[customer]
        return customer


def _normalise(identifier: Identifier) -> str:
    value = identifier.value.strip()
    return value.lower() if identifier.type == "email" else value


# -- stored signals that cannot be streamed -----------------------------------------

# In every row below; it must never reach a log line.
SECRET = "ann.secret@example.com"


async def store_unstreamable_signals(
    url: str, *, schema: str | None = None, max_bytes: int, invalid_json: bool = True
) -> list[tuple[int, str]]:
    """Append signals WatchSignals cannot stream, as a damaged or future row would be:
    an event-seen payload missing keys, a kind this release does not know, a payload
    that is a JSON list, one whose response exceeds ``max_bytes`` and (SQLite only: a
    PostgreSQL json column refuses it) one that is not JSON at all.

    Returns (seq, kind) of each row, in log order.
    """
    engine = create_engine(url, schema=schema)
    now = datetime.now(UTC)
    big = StoredEvent(
        event_id=uuid.uuid4().hex,
        workspace="default",
        customer_id="c0ffee",
        type=EventType.TRACK,
        event_time=now,
        receive_time=now,
        sent=IncomingEvent(
            EventType.TRACK,
            "big-1",
            user_id=SECRET,
            event="Viewed",
            properties={"blob": "b" * max_bytes},
        ),
    )
    rows: list[tuple[SignalKind | str, Any]] = [
        (SignalKind.EVENT_SEEN, {"message_id": "x", "user_id": SECRET}),
        ("mystery_kind", {"user_id": SECRET}),
        (SignalKind.TRAIT_CHANGED, [SECRET]),
        (SignalKind.EVENT_SEEN, event_seen_payload(big)),
    ]
    if invalid_json:
        rows.append((SignalKind.EVENT_SEEN, type_coerce('{"user_id": "' + SECRET, Text)))
    stored: list[tuple[int, str]] = []
    try:
        async with engine.begin() as conn:
            for kind, payload in rows:
                result = await conn.execute(
                    insert(signals).values(
                        workspace="default",
                        kind=str(kind),
                        customer_id="c0ffee",
                        payload=payload,
                        create_time=now,
                    )
                )
                stored.append((int(result.inserted_primary_key[0]), str(kind)))
    finally:
        await engine.dispose()
    return stored
