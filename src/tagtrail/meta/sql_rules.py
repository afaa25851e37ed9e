"""The tag-rule store (``meta.rules``) on the metadata database: table ``tag_rules``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, select, update

from tagtrail.meta.rules import TagRule
from tagtrail.meta.schema import tag_rules
from tagtrail.meta.sql_base import SqlStoreBase


class SqlTagRuleStore(SqlStoreBase):
    """TagRuleStore (``meta.rules``)."""

    async def add_tag_rule(self, rule: TagRule) -> TagRule:
        async with self._write() as conn:
            rule_id = await conn.scalar(
                tag_rules.insert()
                .values(
                    organisation=rule.organisation,
                    repository=rule.repository,
                    tag_pattern=rule.tag_pattern,
                    except_patterns=json.dumps(list(rule.exceptions)) if rule.exceptions else None,
                    created_ms=rule.created_ms,
                    created_by=rule.created_by,
                )
                .returning(tag_rules.c.id)
            )
        assert rule_id is not None
        return TagRule(
            rule.organisation,
            rule.repository,
            rule.tag_pattern,
            rule.exceptions,
            id=int(rule_id),
            created_ms=rule.created_ms,
            created_by=rule.created_by,
        )

    async def tag_rules(self, organisation: str) -> list[TagRule]:
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(tag_rules)
                    .where(
                        tag_rules.c.organisation == organisation,
                        tag_rules.c.removed_ms.is_(None),
                    )
                    .order_by(tag_rules.c.id)
                )
            ).all()
        return [_rule(row) for row in rows]

    async def list_tag_rules(
        self, organisation: str | None, *, removed: bool = False
    ) -> list[TagRule]:
        query = select(tag_rules).where(
            tag_rules.c.removed_ms.is_not(None) if removed else tag_rules.c.removed_ms.is_(None)
        )
        if organisation is not None:
            query = query.where(tag_rules.c.organisation == organisation)
        async with self._read() as conn:
            rows = (await conn.execute(query.order_by(tag_rules.c.id))).all()
        return [_rule(row) for row in rows]

    async def get_tag_rule(self, rule_id: int) -> TagRule | None:
        async with self._read() as conn:
            row = (await conn.execute(select(tag_rules).where(tag_rules.c.id == rule_id))).first()
        return None if row is None else _rule(row)

    async def remove_tag_rule(
        self, rule_id: int, *, by: str | None, when_ms: int
    ) -> TagRule | None:
        async with self._write() as conn:
            # Conditional on "in force": of two racing removals only one stamps the row, so the
            # audit record names the one who removed it.
            result = await conn.execute(
                update(tag_rules)
                .where(tag_rules.c.id == rule_id, tag_rules.c.removed_ms.is_(None))
                .values(removed_ms=when_ms, removed_by=by)
            )
            if not result.rowcount:
                return None
            row = (await conn.execute(select(tag_rules).where(tag_rules.c.id == rule_id))).one()
        return _rule(row)


def _rule(row: Row[Any]) -> TagRule:
    exceptions = () if row.except_patterns is None else tuple(json.loads(row.except_patterns))
    return TagRule(
        organisation=row.organisation,
        repository=row.repository,
        tag_pattern=row.tag_pattern,
        exceptions=exceptions,
        id=row.id,
        created_ms=row.created_ms,
        created_by=row.created_by,
        removed_ms=row.removed_ms,
        removed_by=row.removed_by,
    )
