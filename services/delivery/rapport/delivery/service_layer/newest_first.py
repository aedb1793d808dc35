"""Page positions of the lists delivery keeps newest first, by (create_time, id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from rapport.pagination import PageTokens


class Listed(Protocol):
    @property
    def create_time(self) -> datetime: ...

    @property
    def id(self) -> str: ...


def position(item: Listed) -> dict[str, Any]:
    """What a page token remembers of the last item of a page."""
    return {"t": item.create_time.isoformat(), "id": item.id}


def continue_after(
    tokens: PageTokens, page_token: str, *, bound_to: str
) -> tuple[datetime, str] | None:
    """The (create_time, id) a page token continues after; None for the first page.
    Tokens are authenticated: a position is always one `position` encoded."""
    remembered = tokens.decode(page_token, bound_to=bound_to)
    if remembered is None:
        return None
    return datetime.fromisoformat(remembered["t"]), str(remembered["id"])
