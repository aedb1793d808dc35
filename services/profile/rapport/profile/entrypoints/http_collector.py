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
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rapport.errors import Aborted, InvalidArgument, RapportError, Unavailable
from rapport.httpserver import basic_credentials, read_body
from rapport.profile.domain import names
from rapport.profile.domain.ingestion import rejection
from rapport.profile.domain.model import (
    EventType,
    IncomingEvent,
    IngestStatus,
    RejectedEvent,
    RejectionReason,
)
from rapport.profile.service_layer import commands, ingestion
from rapport.profile.service_layer.dependencies import Dependencies
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .collector_admission import CollectorAdmission

_log = logging.getLogger(__name__)

SEGMENT_MAX_BATCH_BYTES = 500 * 1024
# IngestEvents takes at most this many events a call: a larger batch goes in parts.
_CHUNK = 1000
_TYPES = {kind.value: kind for kind in EventType}


class _BadEvent(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


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
            items, paths, shared = [{**body, "type": event_type}], ["event"], {}
        events = [
            _decode(item, path, shared, deps) for item, path in zip(items, paths, strict=True)
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
        if event_type is not None and results and results[0].rejection is not None:
            bad = results[0].rejection
            return _failure(400, f"{bad.field}: {bad.description}")
        return JSONResponse({"success": True})

    def route(path: str, event_type: str | None) -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            return await handle(request, event_type)

        return Route(path, endpoint, methods=["POST"])

    routes = [route("/v1/batch", None), route("/v1/import", None)]
    routes += [route(f"/v1/{name}", name) for name in _TYPES]
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
    _warn_rejected(workspace, results)
    return results


# Rejections named in one warning; the rest are counted.
_REJECTIONS_NAMED = 5


def _warn_rejected(workspace: str, results: Sequence[ingestion.EventResult]) -> None:
    """One warning per request whose events were refused: a batch still answers 200 (as
    Segment does; its libraries would not resend), so the log is where whoever owns the
    instrumentation learns which field broke which event. Fields and reasons only: a
    description may quote the refused identifier."""
    rejected = [r for r in results if r.rejection is not None]
    if not rejected:
        return
    _log.warning(
        "collector events rejected",
        extra={
            "workspace": workspace,
            "count": len(rejected),
            "batch_size": len(results),
            "rejections": [
                {
                    "message_id": r.message_id,
                    "field": r.rejection.field,
                    "reason": r.rejection.reason.name,
                }
                for r in rejected[:_REJECTIONS_NAMED]
                if r.rejection is not None
            ],
        },
    )


def _decode(
    item: Any, path: str, shared: Mapping[str, Any], deps: Dependencies
) -> IncomingEvent | RejectedEvent:
    """One Segment message as the use case's IncomingEvent (straight from JSON: no
    protobuf round trip), or rejected alone with the field and why."""
    message_id = ""
    try:
        if not isinstance(item, dict):
            raise _BadEvent(path, "must be an object")
        message_id = _id(item.get("messageId"), f"{path}.messageId") or uuid.uuid4().hex
        limits = deps.ingest_limits
        if len(json.dumps(item, ensure_ascii=False).encode()) > limits.max_event_bytes:
            err = InvalidArgument(path, f"is larger than {limits.max_event_bytes} bytes")
            return RejectedEvent(message_id, rejection(err, RejectionReason.EVENT_TOO_LARGE))
        return _event(item, path, shared, message_id, limits.max_struct_depth)
    except _BadEvent as bad:
        err = InvalidArgument(bad.field, bad.description)
        return RejectedEvent(message_id, rejection(err, RejectionReason.INVALID_FIELD))


def _event(
    item: dict[str, Any], path: str, shared: Mapping[str, Any], message_id: str, depth: int
) -> IncomingEvent:
    kind = item.get("type")
    if not isinstance(kind, str) or kind.lower() not in _TYPES:
        raise _BadEvent(f"{path}.type", "must be identify, track, page, screen, group or alias")
    kind = kind.lower()
    name_field = "event" if kind == "track" else "name"
    name = _text(item.get(name_field), f"{path}.{name_field}")
    if kind in ("page", "screen") and not name:
        name = _text(item.get("category"), f"{path}.category")
    context = _object(item.get("context"), f"{path}.context")
    batch_context = _object(shared.get("context"), "context")
    if batch_context:
        context = {**batch_context, **(context or {})}
    original_time = sent_time = None
    if (original := item.get("originalTimestamp")) is not None:
        original_time = _time(original, f"{path}.originalTimestamp")
        if (sent := item.get("sentAt", shared.get("sentAt"))) is not None:
            sent_time = _time(sent, f"{path}.sentAt")
    elif item.get("timestamp") is not None:
        original_time = _time(item["timestamp"], f"{path}.timestamp")
    return IncomingEvent(
        type=_TYPES[kind],
        message_id=message_id,
        user_id=_id(item.get("userId"), f"{path}.userId"),
        anonymous_id=_id(item.get("anonymousId"), f"{path}.anonymousId"),
        event=name,
        properties=_struct(item.get("properties"), f"{path}.properties", depth),
        traits=_struct(item.get("traits"), f"{path}.traits", depth),
        context=_struct(context, f"{path}.context", depth),
        previous_id=_id(item.get("previousId"), f"{path}.previousId"),
        group_id=_id(item.get("groupId"), f"{path}.groupId"),
        original_time=original_time,
        sent_time=sent_time,
    )


def _struct(value: Any, field: str, max_depth: int) -> dict[str, Any] | None:
    """A JSON object as IngestEvents' Structs hold it: numbers as floats (as
    google.protobuf.Value), nested at most ``max_depth`` levels."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _BadEvent(field, "must be an object")
    return _value(value, field, 1, max_depth)  # type: ignore[no-any-return]


def _value(value: Any, field: str, depth: int, max_depth: int) -> Any:
    if isinstance(value, dict):
        if depth > max_depth:
            raise _BadEvent(field, f"is nested deeper than {max_depth} levels")
        return {k: _value(v, field, depth + 1, max_depth) for k, v in value.items()}
    if isinstance(value, list):
        if depth > max_depth:
            raise _BadEvent(field, f"is nested deeper than {max_depth} levels")
        return [_value(v, field, depth + 1, max_depth) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise _BadEvent(field, "holds a number out of range") from None
    if not math.isfinite(value):
        # NaN and Infinity as the library writes them, or 1e999 (parsed as infinity).
        raise _BadEvent(field, "holds a number out of range")
    return value


def _id(value: Any, field: str) -> str:
    """Segment ids are strings or numbers; null is absent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise _BadEvent(field, "must be a string or a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _BadEvent(field, "holds a number out of range")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise _BadEvent(field, "must be a string or a number")


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _BadEvent(field, "must be a string")
    return value


def _object(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _BadEvent(field, "must be an object")
    return value


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise _BadEvent(path, "must be an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _BadEvent(path, "must be an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _BadEvent(path, "is out of range") from None
