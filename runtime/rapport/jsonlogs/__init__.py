"""Structured logs on stderr: one JSON object per line, without personal data.

Only allow-listed ``extra=`` keys are emitted (resource identifiers, counts,
codes), and a defensive filter masks email addresses and phone numbers that
slipped into a message anyway.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "ALLOWED_EXTRA_KEYS",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "allow_extra_keys",
    "configure",
    "redact",
]

_DEFAULT_KEYS = (
    "method code duration_ms customer workspace message_id resource count attempt cursor "
    "error_reason port address service_names channel purpose action provider status "
    "request_id idempotency_key event_type segment trigger batch_size lag revision"
)
# Mutable through allow_extra_keys(); the set of keys is non-personal by review.
ALLOWED_EXTRA_KEYS: set[str] = set(_DEFAULT_KEYS.split())

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# 7+ digits, optionally led by "+", separated by single spaces, dashes, dots or parentheses.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s\-.()]?\d){6,}(?!\w)")

_HANDLER_MARK = "_rapport_jsonlogs"
QUIET_LIBRARY_LOGGERS = ("httpx", "httpcore", "hpack", "nats")
# The CEL engine warns on every failed helper call (days_until of a value that is no
# date...), with the helper's message, which may quote a trait's value: one line per
# customer per evaluation over a million profiles. Callers answer such failures
# themselves (a rule error, a non-member); only the engine's errors reach our logs.
RULE_ENGINE_LOGGERS = ("cel",)


def redact(text: str) -> str:
    """Mask anything that looks like an email address or a phone number."""
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def allow_extra_keys(*keys: str) -> None:
    """Allow more non-personal ``extra=`` keys (review them: never personal data)."""
    ALLOWED_EXTRA_KEYS.update(keys)


class RedactingFilter(logging.Filter):
    """Renders the message once, redacted, so formatters never see the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except Exception:  # a bad format string must not lose the log line
            rendered = str(record.msg)
        record.msg = redact(rendered)
        record.args = None
        return True


def _trace_ids() -> dict[str, str]:
    try:
        from opentelemetry import trace
    except ImportError:  # tracing is optional for this package
        return {}
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def _fields(record: logging.LogRecord, service: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
        "service": service,
    }
    fields.update(_trace_ids())
    for key in ALLOWED_EXTRA_KEYS:
        if key in record.__dict__ and key not in fields:
            fields[key] = record.__dict__[key]
    if record.exc_info:
        # Exception messages can quote input; redact the traceback text too.
        fields["exception"] = redact(logging.Formatter().formatException(record.exc_info))
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record, self.service), default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable variant for local runs: the same fields, key=value."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record, self.service)
        head = f"{fields.pop('time')} {fields.pop('level'):<7} {fields.pop('logger')}: "
        message = fields.pop("message")
        exception = fields.pop("exception", None)
        fields.pop("service")
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        text = head + message + (f" [{tail}]" if tail else "")
        return f"{text}\n{exception}" if exception else text


def configure(
    service_name: str, level: str = "INFO", fmt: str = "json", *, stream: TextIO | None = None
) -> None:
    """Send root logging to stderr (or ``stream``). Calling again replaces our handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        TextFormatter(service_name) if fmt == "text" else JsonFormatter(service_name)
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Client libraries that log every request with its full URL (query strings carry
    # API keys, phone numbers...): only their warnings and errors reach our logs.
    for chatty in QUIET_LIBRARY_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    for engine in RULE_ENGINE_LOGGERS:
        logging.getLogger(engine).setLevel(max(logging.ERROR, root.level))
