"""Templates in SQL (SQLAlchemy Core); the same statements on SQLite and PostgreSQL.

Contents and samples are JSON. A row this version cannot read back (a part it does
not know is ignored; anything else) becomes None with a warning naming the template,
and a list skips it: one row never fails a read.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rapport.delivery.domain.templates import Template, TemplateContent
from rapport.sqlstore import as_utc
from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import templates

_log = logging.getLogger(__name__)
_PARTS = ("subject", "text_body", "html_body", "sms_body", "push_body")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _row_values(template: Template) -> dict[str, Any]:
    return {
        "display_name": template.display_name,
        "default_locale": template.default_locale,
        "contents": _json(
            {locale: content.parts() for locale, content in template.contents.items()}
        ),
        "sample_traits": _json(template.sample_traits),
        "sample_data": _json(template.sample_data),
        "update_time": template.update_time,
    }


def _to_template(row: RowMapping) -> Template | None:
    try:
        contents = json.loads(row["contents"])
        sample_traits = json.loads(row["sample_traits"])
        sample_data = json.loads(row["sample_data"])
        if not all(isinstance(v, dict) for v in (contents, sample_traits, sample_data)):
            raise ValueError("not an object")
        template = Template(
            id=row["id"],
            workspace=row["workspace"],
            display_name=row["display_name"],
            default_locale=row["default_locale"],
            contents={
                locale: TemplateContent(**{p: str(parts.get(p, "")) for p in _PARTS})
                for locale, parts in contents.items()
            },
            sample_traits=sample_traits,
            sample_data=sample_data,
            create_time=as_utc(row["create_time"]),
            update_time=as_utc(row["update_time"]),
        )
        if template.default_locale not in template.contents:
            raise ValueError("no content in the default locale")
        return template
    except (TypeError, ValueError, AttributeError, RecursionError):
        _log.warning(
            "stored template holds a value this version cannot read",
            extra={
                "workspace": row["workspace"],
                "resource": row["id"],
                "error_reason": "UNREADABLE_TEMPLATE",
            },
        )
        return None


class TemplateRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def exists(self, workspace: str, template_id: str) -> bool:
        found = await self._conn.execute(
            select(templates.c.id).where(
                templates.c.workspace == workspace, templates.c.id == template_id
            )
        )
        return found.first() is not None

    async def get(self, workspace: str, template_id: str) -> Template | None:
        """None when there is none, or when it cannot be read (logged)."""
        row = (
            (
                await self._conn.execute(
                    select(templates).where(
                        templates.c.workspace == workspace, templates.c.id == template_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return _to_template(row) if row is not None else None

    async def add(self, template: Template) -> None:
        """IntegrityError when the id is taken."""
        await self._conn.execute(
            templates.insert().values(
                workspace=template.workspace,
                id=template.id,
                create_time=template.create_time,
                **_row_values(template),
            )
        )

    async def save(self, template: Template) -> None:
        await self._conn.execute(
            update(templates)
            .where(templates.c.workspace == template.workspace, templates.c.id == template.id)
            .values(**_row_values(template))
        )

    async def remove(self, workspace: str, template_id: str) -> bool:
        result = await self._conn.execute(
            delete(templates).where(
                templates.c.workspace == workspace, templates.c.id == template_id
            )
        )
        return result.rowcount == 1

    async def list(self, workspace: str, *, after: str | None, limit: int) -> list[Template]:
        """By id, from after `after`; rows that cannot be read are left out."""
        query = select(templates).where(templates.c.workspace == workspace)
        if after is not None:
            query = query.where(templates.c.id > after)
        rows = (
            (await self._conn.execute(query.order_by(templates.c.id).limit(limit))).mappings().all()
        )
        return [t for t in (_to_template(row) for row in rows) if t is not None]
