"""The JetStream stream of one log: its configuration, created or updated at start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError
from rapport.config import ServiceSettings

from ._subjects import LogSubjects

# JetStream error codes (nats-server's errors.json).
STREAM_NAME_IN_USE = 10058  # exists with another configuration
STREAM_NOT_FOUND = 10059

_WEEK = 7 * 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    """What the relay makes sure exists before publishing.

    ``retention`` "limits" (the default) keeps messages for ``max_age_seconds`` whoever
    read them, so several consuming services (each its own durable consumer) and a new
    consumer replaying history all work; "interest" drops a message once every
    consumer acknowledged it; "workqueue" once any did (and refuses overlapping
    consumers). ``duplicate_window_seconds``: how long a ``Nats-Msg-Id`` is remembered,
    which bounds how late a second relay (or a stale retry) may re-publish a record
    and still be recognised as a duplicate.
    """

    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "interest", "workqueue"] = "limits"
    max_age_seconds: float = _WEEK
    duplicate_window_seconds: float = 120.0
    replicas: int = 1
    storage: Literal["file", "memory"] = "file"
    max_message_bytes: int = -1  # -1: the server's max_payload

    def __post_init__(self) -> None:
        if self.duplicate_window_seconds <= 0:
            raise ValueError("duplicate_window_seconds must be positive")
        if 0 < self.max_age_seconds < self.duplicate_window_seconds:
            raise ValueError("max_age_seconds must be 0 (forever) or >= the duplicate window")

    @classmethod
    def for_log(cls, subjects: LogSubjects, **options: Any) -> StreamSpec:
        return cls(subjects.stream, (subjects.every_subject,), **options)

    @classmethod
    def from_settings(cls, subjects: LogSubjects, settings: ServiceSettings) -> StreamSpec:
        return cls.for_log(
            subjects,
            max_age_seconds=settings.nats_stream_max_age_seconds,
            replicas=settings.nats_stream_replicas,
        )

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy(self.retention),
            max_age=self.max_age_seconds,
            duplicate_window=self.duplicate_window_seconds,
            num_replicas=self.replicas,
            storage=StorageType(self.storage),
            max_msg_size=self.max_message_bytes,
        )


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> StreamInfo:
    """Create the stream, or bring an existing one to ``spec`` (subjects, limits,
    window). Changes JetStream cannot make in place (storage, retention to or from
    workqueue) fail with its error: that takes an operator's decision."""
    try:
        return await js.add_stream(spec.config())
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    return await js.update_stream(spec.config())
