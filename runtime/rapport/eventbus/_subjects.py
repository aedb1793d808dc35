"""How one durable log is laid out in NATS: stream name, subjects, message ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from rapport.config import ServiceSettings

# One subject token: no '.', wildcards or whitespace (NATS would split or match on them).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_PARTITIONS = 1024


class BadSubjectToken(ValueError):
    """A workspace, kind or name cannot be one token of a NATS subject."""


def check_token(value: str, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise BadSubjectToken(f"{what} must match {_TOKEN.pattern} to be a subject token")
    return value


@dataclass(frozen=True)
class LogSubjects:
    """The subjects of one service's durable log:
    ``<prefix>.<service>.<log>.<workspace>.<kind>.<partition>``,

    e.g. ``rapport.profile.signals.default.trait_changed.7``. The stream holding them is
    named after the root (``RAPPORT_PROFILE_SIGNALS``) and belongs to this log alone:
    the relay chains its publishes on the stream's last sequence.

    ``partitions`` spreads records over that many subjects by their ordering key (a
    customer id): a key always lands on the same partition, so a consumer that handles
    one message at a time per partition handles each customer's records in log order.
    Producer and consumers must agree on it (the ``nats_partitions`` setting of the suite).
    """

    service: str
    log: str
    prefix: str = "rapport"
    partitions: int = 16

    def __post_init__(self) -> None:
        for n, token in enumerate(self.prefix.split(".")):
            check_token(token, f"prefix token {n}")
        check_token(self.service, "service")
        check_token(self.log, "log")
        if not 1 <= self.partitions <= _MAX_PARTITIONS:
            raise ValueError(f"partitions must be between 1 and {_MAX_PARTITIONS}")

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, log: str, *, service: str | None = None
    ) -> LogSubjects:
        """The subjects of ``service``'s (default: this service's) ``log``."""
        return cls(
            service=service or settings.service_name,
            log=log,
            prefix=settings.nats_subject_prefix,
            partitions=settings.nats_partitions,
        )

    @property
    def root(self) -> str:
        return f"{self.prefix}.{self.service}.{self.log}"

    @property
    def stream(self) -> str:
        return self.root.upper().replace(".", "_").replace("-", "_")

    @property
    def every_subject(self) -> str:
        return f"{self.root}.>"

    def partition_of(self, key: str) -> int:
        """Stable across processes and releases (BLAKE2b, unlike ``hash()``)."""
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.partitions

    def subject(self, workspace: str, kind: str, key: str) -> str:
        check_token(workspace, "workspace")
        check_token(kind, "kind")
        return f"{self.root}.{workspace}.{kind}.{self.partition_of(key)}"

    def filter(
        self,
        *,
        workspace: str | None = None,
        kind: str | None = None,
        partition: int | None = None,
    ) -> str:
        """A subject filter: every workspace / kind / partition unless one is given."""
        tokens = [
            "*" if workspace is None else check_token(workspace, "workspace"),
            "*" if kind is None else check_token(kind, "kind"),
            "*" if partition is None else str(self._partition(partition)),
        ]
        return ".".join([self.root, *tokens])

    def parse(self, subject: str) -> tuple[str, str, int]:
        """(workspace, kind, partition) of one of this log's subjects, or ValueError."""
        head, _, rest = subject.rpartition(".")
        root, _, kind = head.rpartition(".")
        root, _, workspace = root.rpartition(".")
        if root != self.root or not rest.isdigit():
            raise ValueError("not a subject of this log")
        return check_token(workspace, "workspace"), check_token(kind, "kind"), int(rest)

    def message_id(self, cursor: int) -> str:
        """The de-duplication id (``Nats-Msg-Id``) of the record at ``cursor``: the
        cursor is unique across the whole log (every workspace), so root + cursor is."""
        return f"{self.root}:{cursor}"

    def cursor_of_message_id(self, message_id: str | None) -> int | None:
        if not message_id:
            return None
        root, _, cursor = message_id.rpartition(":")
        return int(cursor) if root == self.root and cursor.isdigit() else None

    def _partition(self, partition: int) -> int:
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition must be between 0 and {self.partitions - 1}")
        return partition
