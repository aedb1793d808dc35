"""Checks every use case makes of its request: served workspaces, known enum values."""

from __future__ import annotations

from collections.abc import Callable, Collection

from rapport.decisioning.domain import names
from rapport.decisioning.domain.model import Channel
from rapport.errors import InvalidArgument
from rapport.resourcenames import require_workspace

from .commands import UnknownEnumValue


def served_workspace(parent: str, workspaces: Collection[str], field: str = "parent") -> str:
    """The workspace id of `parent`; InvalidArgument if malformed, NotFound if not served."""
    workspace = names.parse_workspace(parent, field)
    require_workspace(workspace, workspaces)
    return workspace


def served_name(
    parse: Callable[[str, str], names.ResourceName],
    name: str,
    workspaces: Collection[str],
    field: str = "name",
) -> names.ResourceName:
    """A resource's parsed name; NotFound when its workspace is not served."""
    parsed = parse(name, field)
    require_workspace(parsed.workspace, workspaces)
    return parsed


def known_channel(value: Channel | UnknownEnumValue | None, field: str) -> Channel | None:
    """The channel, None when unspecified; InvalidArgument for a value this version lacks."""
    if isinstance(value, UnknownEnumValue):
        raise InvalidArgument(field, "is not a known channel")
    return value
