"""Storage of published configuration versions: each one whole, the highest one live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rapport.decisioning.domain.config import ConfigVersion, DecisionConfig
from rapport.sqlstore import as_utc
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables
from .config_json import config_from_json, config_to_json

_INFO_COLUMNS = [c for c in tables.config_versions.c if c.name != "config"]


def _info(row: Any) -> ConfigVersion:
    return ConfigVersion(
        workspace=row.workspace,
        version=row.version,
        description=row.description,
        source_version=row.source_version,
        action_count=row.action_count,
        group_count=row.group_count,
        trigger_count=row.trigger_count,
        create_time=as_utc(row.create_time),
    )


class ConfigVersionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def live_number(self, workspace: str) -> int:
        """The live (highest) version's number; 0 when none was published."""
        value = await self._conn.scalar(
            sa.select(sa.func.max(tables.config_versions.c.version)).where(
                tables.config_versions.c.workspace == workspace
            )
        )
        return int(value or 0)

    async def config(self, workspace: str, version: int) -> DecisionConfig | None:
        stored = await self._conn.scalar(
            sa.select(tables.config_versions.c.config).where(
                tables.config_versions.c.workspace == workspace,
                tables.config_versions.c.version == version,
            )
        )
        return config_from_json(workspace, version, stored) if stored is not None else None

    async def info(self, workspace: str, version: int) -> ConfigVersion | None:
        row = (
            await self._conn.execute(
                sa.select(*_INFO_COLUMNS).where(
                    tables.config_versions.c.workspace == workspace,
                    tables.config_versions.c.version == version,
                )
            )
        ).first()
        return _info(row) if row is not None else None

    async def list_page(
        self, workspace: str, *, before: int | None, limit: int
    ) -> list[ConfigVersion]:
        """Newest first; keyset: only versions below `before`."""
        t = tables.config_versions
        query = sa.select(*_INFO_COLUMNS).where(t.c.workspace == workspace)
        if before is not None:
            query = query.where(t.c.version < before)
        rows = (await self._conn.execute(query.order_by(t.c.version.desc()).limit(limit))).all()
        return [_info(row) for row in rows]

    async def add(
        self,
        config: DecisionConfig,
        *,
        description: str,
        source_version: int | None,
        now: datetime,
    ) -> ConfigVersion:
        """Store `config` as its version (a racing publisher's duplicate key is a conflict)."""
        info = ConfigVersion(
            workspace=config.workspace,
            version=config.version,
            description=description,
            source_version=source_version,
            action_count=len(config.actions),
            group_count=len(config.groups),
            trigger_count=len(config.triggers),
            create_time=now,
        )
        await self._conn.execute(
            tables.config_versions.insert().values(
                workspace=info.workspace,
                version=info.version,
                description=description,
                source_version=source_version,
                config=config_to_json(config),
                action_count=info.action_count,
                group_count=info.group_count,
                trigger_count=info.trigger_count,
                create_time=now,
            )
        )
        return info
