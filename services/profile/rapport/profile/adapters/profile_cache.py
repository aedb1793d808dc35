"""The GetProfile cache: profiles by (workspace, customer), one version scope per customer.

rapport.versionedcache does the work (see there why a reader never stores a value read
before a committed write): in-process on SQLite (one process per database), Redis when
configured (shared by replicas), none on PostgreSQL without Redis (replicas could not
invalidate each other's memory). Ingestion and RemoveTraits invalidate the scopes of
the customers they changed after their commit and before answering.

Redis keys hold workspace and customer ids only (no personal data); values hold the
profile (traits), as the database does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rapport import versionedcache
from rapport.profile.domain.model import EventType, ProfileView, Trait, TraitSource
from rapport.versionedcache import VersionedCache

ProfileKey = tuple[str, str]  # (workspace, customer id as asked)
ProfileCache = VersionedCache[ProfileKey, ProfileView]


def customer_scope(workspace: str, customer_id: str) -> str:
    return f"{workspace}/{customer_id}"


def _scope(key: ProfileKey) -> str:
    return customer_scope(*key)


def in_process_cache(max_entries: int) -> ProfileCache:
    return versionedcache.InProcessVersionedCache(
        _scope, max_entries=max_entries, stripes=8192, valid_until=_valid_until
    )


def redis_cache(
    url: str, *, timeout_seconds: float, key_prefix: str, ttl_seconds: float
) -> ProfileCache:
    return versionedcache.RedisVersionedCache.from_url(
        url,
        timeout_seconds=timeout_seconds,
        key_prefix=key_prefix,
        scope_of=_scope,
        field_of=lambda _key: "p",
        codec=versionedcache.ValueCodec(_dumps, _loads),
        ttl_seconds=ttl_seconds,
        name="profile",
        valid_until=_valid_until,
    )


def _valid_until(view: ProfileView) -> datetime | None:
    return view.valid_until


def no_cache() -> ProfileCache:
    return versionedcache.NoVersionedCache()


def _trait_json(trait: Trait) -> dict[str, Any]:
    source = trait.source
    return {
        "v": trait.value,
        "m": trait.source_message_id,
        "t": trait.update_time.isoformat(),
        "r": trait.received_at.isoformat(),
        "i": trait.batch_index,
        "s": [
            source.event_type.value if source.event_type else "",
            source.library_name,
            source.library_version,
            source.method,
        ],
    }


def _trait(data: dict[str, Any]) -> Trait:
    event_type, name, version, method = data["s"]
    return Trait(
        data["v"],
        data["m"],
        datetime.fromisoformat(data["t"]),
        datetime.fromisoformat(data["r"]),
        int(data["i"]),
        TraitSource(EventType(event_type) if event_type else None, name, version, method),
    )


def _dumps(view: ProfileView) -> str:
    return json.dumps(
        {
            "w": view.workspace,
            "c": view.customer_id,
            "t": {key: _trait_json(trait) for key, trait in view.traits.items()},
            "n": view.event_count,
            "f": view.first_seen_time.isoformat(),
            "l": view.last_seen_time.isoformat(),
            "g": list(view.group_keys),
            "s": list(view.segment_ids),
            "ls": view.life_stage,
            "ct": view.computed_traits,
            "vu": view.valid_until.isoformat() if view.valid_until else None,
        },
        separators=(",", ":"),
    )


def _loads(text: str) -> ProfileView:
    data = json.loads(text)
    return ProfileView(
        data["w"],
        data["c"],
        {key: _trait(value) for key, value in data["t"].items()},
        int(data["n"]),
        datetime.fromisoformat(data["f"]),
        datetime.fromisoformat(data["l"]),
        tuple(data["g"]),
        tuple(data.get("s", ())),
        str(data.get("ls", "")),
        dict(data.get("ct", {})),
        datetime.fromisoformat(data["vu"]) if data.get("vu") else None,
    )
