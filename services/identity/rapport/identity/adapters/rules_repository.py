"""Storage of identity rules (one row per workspace that changed them) and the YAML defaults."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from rapport.identity.domain.rules import IdentityRules, rules_from_data, rules_to_data
from rapport.sqlstore import as_utc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import identity_rules, put_row

DEFAULT_RULES_FILE = Path(__file__).parent.parent / "default_rules.yaml"


def load_default_rules(path: Path | None, *, default_phone_region: str) -> IdentityRules:
    """The defaults every workspace starts with (ValueError if the file is malformed)."""
    source = path or DEFAULT_RULES_FILE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        return rules_from_data(data, default_phone_region=default_phone_region)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"identity rules file {source} is invalid: {exc}") from exc


class RulesRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, workspace: str, *, default_phone_region: str) -> IdentityRules | None:
        row = (
            await self._connection.execute(
                select(identity_rules.c.rules, identity_rules.c.update_time).where(
                    identity_rules.c.workspace == workspace
                )
            )
        ).first()
        if row is None:
            return None
        rules = rules_from_data(row.rules, default_phone_region=default_phone_region)
        return IdentityRules(rules.identifier_types, rules.matching, as_utc(row.update_time))

    async def put(self, workspace: str, rules: IdentityRules, now: datetime) -> None:
        """Insert or replace (a concurrent first insert loses with IntegrityError: retried)."""
        await put_row(
            self._connection,
            identity_rules,
            {"workspace": workspace},
            {"rules": rules_to_data(rules), "update_time": now},
        )
