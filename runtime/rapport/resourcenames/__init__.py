"""Parse and build AIP resource names such as `workspaces/{workspace}/customers/{customer}`.

Every service names its resources the same way; this package validates names from
requests and turns mistakes into InvalidArgument errors that name the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

from rapport.errors import InvalidArgument, NotFound

__all__ = ["DEFAULT_WORKSPACE", "ID_PATTERN", "format_name", "parse_name", "require_workspace"]

DEFAULT_WORKSPACE = "default"

# Ids are URL- and log-safe; upper-case is refused so that names compare as strings.
ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,127}"


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[a-z_]+\})", pattern):
        if part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>{ID_PATTERN})"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def parse_name(pattern: str, value: str, *, field: str) -> dict[str, str]:
    """Return the ids in `value` by the pattern's placeholders, or raise InvalidArgument."""
    if not value:
        raise InvalidArgument(field, f"is required (a name like {pattern})")
    match = _compile(pattern).fullmatch(value)
    if match is None:
        raise InvalidArgument(field, f"must be a resource name like {pattern}")
    return match.groupdict()


def format_name(pattern: str, **ids: str) -> str:
    """Build a resource name: format_name("workspaces/{workspace}", workspace="default")."""
    return pattern.format(**ids)


def require_workspace(workspace: str, known: Collection[str]) -> None:
    """Raise NotFound unless the workspace is one this deployment serves."""
    if workspace not in known:
        raise NotFound(f"workspaces/{workspace}")
