"""Pages of the List* use cases: the positions decisioning keeps in page tokens.

The tokens themselves are rapport.pagination's (encrypted, authenticated, bound to
the request). Actions and triggers are listed by id, and resume after the last id;
decisions and outcomes newest first, and resume before the last (create_time, id).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from rapport.errors import InvalidArgument
from rapport.pagination import PageTokens, page_size, paginate

from .dependencies import Dependencies
from .request_checks import served_workspace
from .unit_of_work import DecisioningUnitOfWork

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

PAGE_TOKEN = "page_token"
_NOT_OURS = "is not a token returned by this method"


class PageRequest(Protocol):
    parent: str
    page_size: int
    page_token: str


class ListedById(Protocol[T_co]):
    async def list_page(self, workspace: str, *, after: str | None, limit: int) -> list[T_co]: ...


async def list_by_id(
    method: str,
    cmd: PageRequest,
    deps: Dependencies,
    repository: Callable[[DecisioningUnitOfWork], ListedById[T]],
    id_of: Callable[[T], str],
) -> tuple[list[T], str]:
    """One page of `repository`'s rows by id, and the token of the next page."""
    workspace = served_workspace(cmd.parent, deps.workspaces)
    size = page_size(cmd.page_size)
    bound_to = f"{method}:{cmd.parent}"
    position = deps.page_tokens.decode(cmd.page_token, bound_to=bound_to)
    after = None
    if position is not None:
        after = position.get("after")
        if not isinstance(after, str):
            raise InvalidArgument(PAGE_TOKEN, _NOT_OURS)
    async with deps.uow(readonly=True) as uow:
        rows = await repository(uow).list_page(workspace, after=after, limit=size + 1)
    return paginate(
        rows, size, lambda row: {"after": id_of(row)}, tokens=deps.page_tokens, bound_to=bound_to
    )


def newest_first_position(create_time: datetime, id_: str) -> dict[str, Any]:
    return {"time": create_time.isoformat(), "id": id_}


def page_before(tokens: PageTokens, token: str, *, bound_to: str) -> tuple[datetime, str] | None:
    """The (create_time, id) a newest-first listing resumes before; None on the first page."""
    position = tokens.decode(token, bound_to=bound_to)
    if position is None:
        return None
    try:
        time = datetime.fromisoformat(position["time"])
        id_ = position["id"]
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidArgument(PAGE_TOKEN, _NOT_OURS) from err
    if not isinstance(id_, str) or time.tzinfo is None:
        raise InvalidArgument(PAGE_TOKEN, _NOT_OURS)
    return time, id_
