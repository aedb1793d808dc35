"""ListProfiles' reads: the profiles of a workspace in customer order (optionally only
those holding a trait), and the chosen traits of a page of them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rapport.profile.domain.model import EventType, ProfileSummary, Trait, TraitSource
from rapport.sqlstore import as_utc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import profiles, traits


@dataclass(frozen=True)
class ListedProfile:
    customer_id: str
    summary: ProfileSummary


class ProfileListing:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def profiles_after(
        self, workspace: str, after: str, limit: int, has_trait: str = ""
    ) -> list[ListedProfile]:
        """Up to ``limit`` profiles whose customer id sorts after ``after``, in that order;
        with ``has_trait``, only those holding it (read through ix_traits_key_customer)."""
        if has_trait:
            # Driven by the holders of the key, in customer order (ix_traits_key_customer):
            # a page of a rare trait never walks the workspace's other profiles.
            holder = traits.c.customer_id
            query = (
                select(profiles)
                .join(
                    traits,
                    (traits.c.workspace == profiles.c.workspace)
                    & (holder == profiles.c.customer_id),
                )
                .where(
                    traits.c.workspace == workspace,
                    traits.c.key == has_trait,
                    traits.c.removed.is_not(True),
                    holder > after,
                )
                .order_by(holder)
            )
        else:
            query = (
                select(profiles)
                .where(profiles.c.workspace == workspace, profiles.c.customer_id > after)
                .order_by(profiles.c.customer_id)
            )
        rows = await self._conn.execute(query.limit(limit))
        return [
            ListedProfile(
                row.customer_id,
                ProfileSummary(
                    int(row.event_count), as_utc(row.first_seen_time), as_utc(row.last_seen_time)
                ),
            )
            for row in rows
        ]

    async def traits_of(
        self, workspace: str, customer_ids: Collection[str], keys: Collection[str] | None
    ) -> dict[str, dict[str, Trait]]:
        """The traits held (removals left out) by each customer: those of ``keys``, or all
        with None. Only the asked keys are read, so a page wanting two traits of
        customers holding hundreds reads two rows each."""
        found: dict[str, dict[str, Trait]] = {customer: {} for customer in customer_ids}
        if not customer_ids or (keys is not None and not keys):
            return found
        query = select(traits).where(
            traits.c.workspace == workspace,
            traits.c.customer_id.in_(list(customer_ids)),
            traits.c.removed.is_not(True),
        )
        if keys is not None:
            query = query.where(traits.c.key.in_(list(keys)))
        for row in await self._conn.execute(query):
            found[row.customer_id][row.key] = Trait(
                value=row.value,
                source_message_id=row.source_message_id,
                update_time=as_utc(row.update_time),
                received_at=as_utc(row.received_at),
                batch_index=int(row.batch_index),
                source=TraitSource(
                    event_type=EventType(row.source_event_type) if row.source_event_type else None,
                    library_name=row.library_name or "",
                    library_version=row.library_version or "",
                    method=row.method or "",
                ),
            )
        return found
