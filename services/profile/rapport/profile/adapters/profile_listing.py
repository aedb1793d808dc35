"""ListProfiles' read: the profiles of a workspace in customer order (optionally only
those holding a trait). Their traits are read by TraitRepository."""

from __future__ import annotations

from dataclasses import dataclass

from rapport.profile.domain.model import ProfileSummary
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
