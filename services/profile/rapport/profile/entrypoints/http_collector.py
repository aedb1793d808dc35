"""The Segment-compatible HTTP collector: Segment's tracking API (``/v1/batch``,
``/v1/identify``, ``/v1/track``, ``/v1/page``, ``/v1/screen``, ``/v1/group``,
``/v1/alias``) in front of the same use case as IngestEvents.

A write key (the HTTP Basic username, or ``writeKey`` in the body, as Segment's
libraries send it) names the workspace. As Segment: 200 ``{"success": true}`` for a
request taken (a batch's invalid events are rejected alone, as IngestEvents does);
400 for a body that is not JSON, too large (500 KB a request, 32 KB an event) or,
on the single-event routes, an invalid event; 401 for a missing or unknown write
key; 429 with Retry-After for a write key over its rate or when too many requests are
being ingested (CollectorAdmission): retry. 503 when the events could not be stored
now (identity away, or a batch that kept racing merges and erasures): retry.

Rejections name fields as the sender sent them (``batch[3].userId``,
``batch[0].traits.score``; ``userId`` on a single-event route), in the 400's message
and in the warning a batch with rejected events logs; IngestEvents keeps its own names
(``events[3].user_id``). Events are checked as IngestEvents checks them: an event whose
time, corrected for clock skew with ``sentAt`` (Segment's rule, applied when
``originalTimestamp`` is sent), is still more than ``max_event_time_ahead`` (1 hour by
default) after its receive time is rejected, naming ``timestamp`` or
``originalTimestamp``; an alias's ``previousId`` may be a previous ``userId``.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapport.errors import Aborted, InvalidArgument, RapportError, Unavailable
from rapport.httpserver import basic_credentials, read_body
from rapport.profile.domain import names
from rapport.profile.domain.model import IncomingEvent, IngestStatus, RejectedEvent, Rejection
from rapport.profile.service_layer import commands, ingestion
from rapport.profile.service_layer.dependencies import Dependencies
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .collector_admission import CollectorAdmission
from .segment_messages import TYPES, decode, segment_description, segment_field

_log = logging.getLogger(__name__)

SEGMENT_MAX_BATCH_BYTES = 500 * 1024
# IngestEvents takes at most this many events a call: a larger batch goes in parts.
_CHUNK = 1000


@dataclass(frozen=True)
class _Refused:
    """An event's rejection in the sender's words (Segment's field names and paths)."""

    message_id: str
    field: str
    reason: str
    description: str


def collector_app(
    deps: Dependencies, write_keys: Mapping[str, str], admission: CollectorAdmission
) -> Starlette:
    """The ASGI app (served by rapport.httpserver next to gRPC)."""
    keys = [(key.encode(), (key, workspace)) for key, workspace in write_keys.items()]

    def source_of(request: Request, body: Any) -> tuple[str, str] | None:
        """(write key, workspace) of a known write key."""
        credentials = basic_credentials(request)
        key = credentials.username if credentials is not None else None
        if key is None and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
            key = body["writeKey"]
        if not key:
            return None
        sent = key.encode()
        found = None
        for known, source in keys:  # every key compared: no early exit to time
            if hmac.compare_digest(sent, known):
                found = source
        return found

    async def handle(request: Request, event_type: str | None) -> JSONResponse:
        try:
            raw = await read_body(request, SEGMENT_MAX_BATCH_BYTES)
        except HTTPException as err:
            if err.status_code == 413:
                return _failure(400, "Exceeded payload size limit")
            return _failure(err.status_code, str(err.detail))
        try:
            body = json.loads(raw, parse_constant=_non_finite)
        except (ValueError, RecursionError):
            body = _INVALID
        source = source_of(request, body)
        if source is None:
            return _failure(401, "Invalid write key", {"WWW-Authenticate": "Basic"})
        write_key, workspace = source
        if body is _INVALID or not isinstance(body, dict):
            return _failure(400, "Invalid JSON")
        retry_after = admission.admit(write_key)
        if retry_after is not None:
            return _failure(
                429, "Too many requests; retry later", {"Retry-After": str(retry_after)}
            )
        try:
            return await ingest_body(body, workspace, event_type)
        finally:
            admission.release()

    async def ingest_body(
        body: dict[str, Any], workspace: str, event_type: str | None
    ) -> JSONResponse:
        if event_type is None:
            items = body.get("batch")
            if not isinstance(items, list):
                return _failure(400, "batch must be a list of events")
            paths = [f"batch[{i}]" for i in range(len(items))]
            shared = body
        else:
            # The body is the message: its fields are named as sent (``userId``).
            items, paths, shared = [{**body, "type": event_type}], [""], {}
        limits = deps.ingest_limits
        events = [
            decode(item, path, shared, limits) for item, path in zip(items, paths, strict=True)
        ]
        try:
            results = await _ingest(workspace, events, deps)
        except InvalidArgument as err:
            return _failure(400, err.description)
        except (Unavailable, Aborted):
            # Identity away, or writes that kept losing races (customers erased or
            # merged meanwhile): nothing was stored, and the message ids make a retry safe.
            return _failure(503, "The events could not be stored now; retry later")
        except RapportError:
            _log.exception("collector ingest failed", extra={"workspace": workspace})
            return _failure(500, "internal error")
        refused = _in_senders_words(results, events, items, paths)
        _warn_rejected(workspace, refused, len(results))
        _note_withheld(workspace, results)
        if event_type is not None and refused:
            [bad] = refused
            message = f"{bad.field}: {bad.description}" if bad.field else bad.description
            return _failure(400, message)
        return JSONResponse({"success": True})

    def route(path: str, event_type: str | None) -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            return await handle(request, event_type)

        return Route(path, endpoint, methods=["POST"])

    routes = [route("/v1/batch", None), route("/v1/import", None)]
    routes += [route(f"/v1/{name}", name) for name in TYPES]
    return Starlette(routes=routes)


_INVALID = object()


def _non_finite(name: str) -> float:
    """NaN, Infinity and -Infinity are not JSON, but Segment's Python library writes them
    (json.dumps): read them as numbers, so that the event holding one is rejected alone
    (naming the field) instead of the whole batch, which the library would not resend."""
    return float(name)


_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    429: "too_many_requests",
    503: "unavailable",
}


def _failure(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Segment's error body (its libraries read ``code`` and ``message``)."""
    body = {"success": False, "code": _CODES.get(status, "error"), "message": message}
    return JSONResponse(body, status, headers=headers)


async def _ingest(
    workspace: str, events: Sequence[IncomingEvent | RejectedEvent], deps: Dependencies
) -> list[ingestion.EventResult]:
    results: list[ingestion.EventResult] = []
    parent = names.workspace_name(workspace)
    for start in range(0, len(events), _CHUNK):
        part = tuple(events[start : start + _CHUNK])
        results += await ingestion.ingest_events(commands.IngestEvents(parent, part), deps)
    accepted = sum(r.status is IngestStatus.ACCEPTED for r in results)
    _log.info(
        "collector batch",
        extra={"workspace": workspace, "count": accepted, "batch_size": len(results)},
    )
    return results


def _in_senders_words(
    results: Sequence[ingestion.EventResult],
    events: Sequence[IncomingEvent | RejectedEvent],
    items: Sequence[Any],
    paths: Sequence[str],
) -> list[_Refused]:
    """The rejected events, their fields named as the sender named them: the use case
    says ``events[i].user_id`` (IngestEvents' names, i counted in its chunk), the sender
    sent ``batch[3].userId``."""
    refused: list[_Refused] = []
    for result, event, item, path in zip(results, events, items, paths, strict=True):
        bad: Rejection | None = result.rejection
        if bad is None:
            continue
        kind = event.type if isinstance(event, IncomingEvent) else None
        field = segment_field(bad.field, path, item, kind)
        description = segment_description(bad.description, item)
        refused.append(_Refused(result.message_id, field, bad.reason.name, description))
    return refused


# Rejections named in one warning; the rest are counted.
_REJECTIONS_NAMED = 5


def _note_withheld(workspace: str, results: Sequence[ingestion.EventResult]) -> None:
    """Traits of accepted events that were not stored (an identifier identity refused):
    Segment's answer has no room for them, so the log tells, without their values."""
    withheld = [(r.message_id, w) for r in results for w in r.warnings]
    if withheld:
        _log.info(
            "collector traits withheld",
            extra={
                "workspace": workspace,
                "count": len(withheld),
                "withheld": [
                    {"message_id": m, "trait": w.identifier_type, "reason": w.identity_reason}
                    for m, w in withheld[:_REJECTIONS_NAMED]
                ],
            },
        )


def _warn_rejected(workspace: str, refused: Sequence[_Refused], batch_size: int) -> None:
    """One warning per request whose events were refused: a batch still answers 200 (as
    Segment does; its libraries would not resend), so the log is where whoever owns the
    instrumentation learns which field broke which event. Fields and reasons only: a
    description may quote the refused identifier."""
    if not refused:
        return
    _log.warning(
        "collector events rejected",
        extra={
            "workspace": workspace,
            "count": len(refused),
            "batch_size": batch_size,
            "rejections": [
                {"message_id": r.message_id, "field": r.field, "reason": r.reason}
                for r in refused[:_REJECTIONS_NAMED]
            ],
        },
    )
