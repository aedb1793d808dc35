"""Lifecycle use cases as plain data (raw client input, validated by service_layer.lifecycle)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UnmergeCustomer:
    name: str
    customers: tuple[str, ...] = ()  # empty: split off every merged customer


@dataclass(frozen=True)
class EraseCustomer:
    name: str
    block_identifiers: bool = False


@dataclass(frozen=True)
class WatchChanges:
    parent: str
    start_cursor: str = ""
