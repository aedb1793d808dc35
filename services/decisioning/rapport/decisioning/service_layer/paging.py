"""Pages of List* results: sizes, and page tokens bound to the request that made them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from rapport.errors import InvalidArgument
from rapport.pagination import decode_page_token, encode_page_token

T = TypeVar("T")

PAGE_TOKEN = "page_token"


def page_of(
    items: Sequence[T], size: int, *, position: Callable[[T], dict[str, Any]], bound_to: str
) -> tuple[list[T], str]:
    """`items` were fetched with limit size + 1: the page, and the token for the next one."""
    if len(items) <= size:
        return list(items), ""
    page = list(items[:size])
    return page, encode_page_token(position(page[-1]), bound_to=bound_to)


def after_id(token: str, *, bound_to: str) -> str | None:
    """The id a by-name listing resumes after; None on the first page."""
    position = decode_page_token(token, bound_to=bound_to)
    if position is None:
        return None
    after = position.get("after")
    if not isinstance(after, str):
        raise InvalidArgument(PAGE_TOKEN, "is not a token returned by this method")
    return after


def newest_first_position(create_time: datetime, id_: str) -> dict[str, Any]:
    return {"time": create_time.isoformat(), "id": id_}


def before(token: str, *, bound_to: str) -> tuple[datetime, str] | None:
    """The (create_time, id) a newest-first listing resumes before; None on the first page."""
    position = decode_page_token(token, bound_to=bound_to)
    if position is None:
        return None
    try:
        time = datetime.fromisoformat(position["time"])
        id_ = position["id"]
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidArgument(PAGE_TOKEN, "is not a token returned by this method") from err
    if not isinstance(id_, str) or time.tzinfo is None:
        raise InvalidArgument(PAGE_TOKEN, "is not a token returned by this method")
    return time, id_
