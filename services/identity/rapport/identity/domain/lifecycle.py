"""Splitting a merged customer back into the customers it came from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class UnmergePlan:
    """What an unmerge of ``survivor`` changes.

    ``owners`` maps every customer of the cluster (the survivor and the customers
    merged into it) to the live customer it belongs to afterwards: itself for the
    survivor and the restored customers, otherwise the nearest restored ancestor in
    the merge history, or the survivor.
    """

    survivor: str
    restored: tuple[str, ...]
    owners: Mapping[str, str]

    def owner_of_origin(self, origin: str | None) -> str:
        """Where an identifier first linked to ``origin`` goes.

        Identifiers linked after a merge have the survivor as origin and stay;
        an unknown origin (older rows, or outside the cluster) stays too.
        """
        if origin is None:
            return self.survivor
        return self.owners.get(origin, self.survivor)


def plan_unmerge(
    survivor: str,
    merged_into_parent: Mapping[str, str],
    restore: Collection[str],
) -> UnmergePlan:
    """Plan splitting ``restore`` (customers merged into ``survivor``) off it.

    ``merged_into_parent`` maps each customer of the cluster to the customer it was
    merged into by its merge that is not undone (the merge history as a tree rooted
    at the survivor). A customer that is not restored goes with its nearest restored
    ancestor: a customer D merged into C before C was merged into the survivor
    goes back with C.
    """
    restored = set(restore)
    owners: dict[str, str] = {survivor: survivor}

    def owner(customer: str) -> str:
        path: list[str] = []
        current = customer
        while current not in owners:
            if current in restored:
                owners[current] = current
                break
            path.append(current)
            parent = merged_into_parent.get(current)
            if parent is None or parent in path or parent == current:
                # History missing (or a cycle, which would be a bug): stays with the survivor.
                owners[current] = survivor
                break
            current = parent
        found = owners[current]
        for customer_on_path in path:
            owners[customer_on_path] = found
        return found

    for customer in merged_into_parent:
        owner(customer)
    for customer in restored:
        owner(customer)
    return UnmergePlan(survivor, tuple(sorted(restored)), owners)
