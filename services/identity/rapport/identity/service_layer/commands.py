"""Use cases of the identity service as plain data (raw client input, validated by handlers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RawIdentifier:
    """An identifier as the client sent it, before normalisation."""

    type: str
    value: str


@dataclass(frozen=True)
class Resolve:
    parent: str
    identifiers: tuple[RawIdentifier, ...]
    source: str = ""
    observe_time: datetime | None = None  # None: the time of the call
    # PersonAttributes as sent: attribute name -> value (empty means unknown).
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResolve:
    parent: str
    requests: tuple[Resolve, ...]


@dataclass(frozen=True)
class GetCustomer:
    name: str


@dataclass(frozen=True)
class LookupCustomer:
    parent: str
    identifier: RawIdentifier


@dataclass(frozen=True)
class ListCustomers:
    parent: str
    page_size: int = 0
    page_token: str = ""
